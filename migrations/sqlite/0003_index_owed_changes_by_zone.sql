-- What a zone owes, read by every commit and release, by pool and name: the read touches the
-- owed rows only, not every row of the pool (see PostgreSQL's 0005).
create index pool_allocations_owed_by_zone
    on pool_allocations (pool_domain, subdomain)
    where dns_state = 'pending';

drop index pool_allocations_dns_pending;
