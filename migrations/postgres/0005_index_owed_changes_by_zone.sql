-- Every commit and release reads what its zone owes (owed.sql) by pool, in name order. With
-- only an index on dns_retry_at, PostgreSQL's generic plan ANDed it with the primary key's
-- whole range for the pool: each DNS change read an index entry per allocation of the pool
-- (a million in a large pool). Indexed by pool and name, the read touches the owed rows only;
-- the other readers of pending rows (the reconciler, `pdm pending`) scan the same few.
create index if not exists pool_allocations_owed_by_zone
    on pool_allocations (pool_domain, subdomain)
    where dns_state = 'pending';

drop index if exists pool_allocations_dns_pending;
