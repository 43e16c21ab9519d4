-- The embedded store for first runs: the PostgreSQL schema (../postgres) in SQLite's terms.
-- Times are UTC text of one fixed shape ('2026-12-01T05:00:00.000Z'), so text order is time
-- order; PDM writes them all with strftime('%Y-%m-%dT%H:%M:%fZ', 'now', …).
create table pool_allocations (
    pool_domain       text    not null,
    -- BINARY collation is byte order, as list's keyset pages need.
    subdomain         text    not null,
    state             text    not null check (state in ('reserved', 'active')),
    reserved_at       text    not null,
    expires_at        text,
    sovereign_fqdn    text,
    load_balancer_ip  text,
    reservation_token blob    not null,
    created_by        text    not null default '',
    dns_state         text    not null default 'synced' check (dns_state in ('pending', 'synced')),
    dns_version       integer not null default 0,
    dns_attempts      integer not null default 0,
    dns_last_error    text,
    dns_retry_at      text,
    -- A JSON array of host labels (PostgreSQL has text[]).
    dns_hosts         text,
    releasing_since   text,
    primary key (pool_domain, subdomain)
) without rowid;

create index pool_allocations_reserved_expires_at
    on pool_allocations (expires_at) where state = 'reserved';
create index pool_allocations_dns_pending
    on pool_allocations (dns_retry_at) where dns_state = 'pending';

create table pool_zones (
    pool_domain     text primary key,
    record_limit    integer,
    foreign_records integer not null,
    refreshed_at    text    not null
);

create table allocation_events (
    id          integer primary key autoincrement,
    pool_domain text    not null,
    subdomain   text    not null,
    event       text    not null check (event in (
                    'reserved', 'taken-over', 'committed', 'release-requested', 'released',
                    'expired', 'dns-synced', 'dns-failed')),
    actor       text    not null,
    request_id  text,
    detail      text,
    at          text    not null
);

create index allocation_events_by_name on allocation_events (pool_domain, subdomain, id);
