-- See PostgreSQL's 0007: the console hosts' own address, and which hosts they were.
alter table pool_allocations add column console_load_balancer_ip text;
-- A JSON array of host labels, as dns_hosts.
alter table pool_allocations add column console_hosts text;
-- The credential that reserved the allocation (see PostgreSQL's 0007).
alter table pool_allocations add column owner text;

-- A commit the zone refuses for good goes back to its reservation, with this event. SQLite
-- cannot alter a check constraint: the table is rebuilt.
create table allocation_events_new (
    id          integer primary key autoincrement,
    pool_domain text    not null,
    subdomain   text    not null,
    event       text    not null check (event in (
                    'reserved', 'taken-over', 'committed', 'release-requested', 'released',
                    'expired', 'dns-synced', 'dns-failed', 'commit-refused')),
    actor       text    not null,
    request_id  text,
    detail      text,
    at          text    not null
);
insert into allocation_events_new select * from allocation_events;
drop table allocation_events;
alter table allocation_events_new rename to allocation_events;
create index allocation_events_by_name on allocation_events (pool_domain, subdomain, id);

-- See PostgreSQL's 0007: the pool freeze and the pool's own audit events.
create table pool_freezes (
    pool_domain text primary key,
    reason      text not null,
    frozen_by   text not null,
    frozen_at   text not null
);

create table pool_events (
    id          integer primary key autoincrement,
    pool_domain text not null,
    event       text not null check (event in ('frozen', 'unfrozen')),
    actor       text not null,
    request_id  text,
    detail      text,
    at          text not null
);

-- See PostgreSQL's 0007: credentials held in the database, as digests.
create table api_credentials (
    name         text primary key,
    digest       blob not null unique,
    scopes       text not null,
    quota        integer check (quota > 0),
    expires_at   text,
    created_at   text not null,
    last_used_at text
);
