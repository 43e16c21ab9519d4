-- DNS is written after the row changes. These columns make what is still owed to DNS durable,
-- so that a crash between the two (even SIGKILL) is repaid by the reconciler.
alter table pool_allocations
    add column if not exists dns_state text not null default 'synced'
        check (dns_state in ('pending', 'synced')),
    -- Bumped whenever what DNS should hold changes; a sync marks only the version it applied.
    add column if not exists dns_version bigint not null default 0,
    add column if not exists dns_attempts integer not null default 0,
    add column if not exists dns_last_error text,
    add column if not exists dns_retry_at timestamptz,
    -- The hosts written at commit, so release removes exactly those even if the set changes.
    add column if not exists dns_hosts text[],
    -- Release requested: the name stays taken until its records are gone, then the row goes.
    add column if not exists releasing_since timestamptz;

create index if not exists pool_allocations_dns_pending
    on pool_allocations (dns_retry_at)
    where dns_state = 'pending';

-- What each zone can still take, refreshed from the provider after every write and by the
-- reconciler, so check and reserve never call the provider.
create table if not exists pool_zones (
    pool_domain     text primary key,
    -- Null: the provider has no per-zone record limit.
    record_limit    integer,
    -- Records in the zone that no allocation owns (apex, mail, operators' records, ...).
    foreign_records integer not null,
    refreshed_at    timestamptz not null default now()
);
