-- Migration 0007. A sovereign with an isolated console gateway gives a second address at commit: its console
-- hosts (PDM_CONSOLE_HOSTS at commit, kept here so a release removes exactly what was
-- written) point at it. Rows without it publish every host at load_balancer_ip, as before.
alter table pool_allocations
    add column if not exists console_load_balancer_ip text,
    add column if not exists console_hosts text[],
    -- The credential that reserved the allocation: an `allocate` credential may commit and
    -- release only its own. Null when PDM was open.
    add column if not exists owner text;

-- The owed read returns the allocation's whole column list, now with the console address and
-- the last DNS error; a function's result type cannot be altered in place.
drop function if exists pdm_owed_under_zone_lock(text, text, bigint, text);
create function pdm_owed_under_zone_lock(
    lock_name text, zone text, batch bigint, asked text)
returns table (
    pool_domain text, subdomain text, state text, reserved_at timestamptz,
    expires_at timestamptz, sovereign_fqdn text, load_balancer_ip text,
    reservation_token uuid, created_by text, lapsed boolean, dns_state text,
    dns_version bigint, dns_attempts integer, dns_retry_at timestamptz, dns_hosts text[],
    releasing_since timestamptz, dns_last_error text, console_load_balancer_ip text,
    console_hosts text[], owner text)
-- See 0006 for why this is PL/pgSQL and why the read follows the lock.
language plpgsql volatile
as $$
begin
    perform pg_advisory_lock(hashtextextended(lock_name, 0));
    return query
        select a.pool_domain, a.subdomain::text, a.state, a.reserved_at, a.expires_at,
               a.sovereign_fqdn, a.load_balancer_ip, a.reservation_token, a.created_by,
               (a.state = 'reserved' and a.expires_at <= now()),
               a.dns_state, a.dns_version, a.dns_attempts, a.dns_retry_at, a.dns_hosts,
               a.releasing_since, a.dns_last_error, a.console_load_balancer_ip, a.console_hosts,
               a.owner
        from pool_allocations a
        where a.pool_domain = zone and a.dns_state = 'pending'
          and (a.dns_attempts = 0 or a.dns_retry_at <= now() or a.subdomain = asked)
        order by a.subdomain
        limit batch;
end;
$$;

-- A commit the zone refuses for good goes back to its reservation, with this event.
alter table allocation_events drop constraint if exists allocation_events_event_check;
alter table allocation_events add constraint allocation_events_event_check check (event in (
    'reserved', 'taken-over', 'committed', 'release-requested', 'released',
    'expired', 'dns-synced', 'dns-failed', 'commit-refused'));

-- An operator's switch that stops reservations under a pool during abuse; commits of existing
-- reservations, releases and DNS go on. Every replica reads it from here.
create table if not exists pool_freezes (
    pool_domain text primary key,
    reason      text not null,
    frozen_by   text not null,
    frozen_at   timestamptz not null default now()
);

-- Pool-wide audit events (a freeze and its end), beside each allocation's.
create table if not exists pool_events (
    id          bigserial primary key,
    pool_domain text not null,
    event       text not null check (event in ('frozen', 'unfrozen')),
    actor       text not null,
    request_id  text,
    detail      text,
    at          timestamptz not null default now()
);

-- Credentials managed without a redeploy (POST /api/v1/tokens, pdm token): only a SHA-256
-- digest of each secret is kept. Revoking deletes the row.
create table if not exists api_credentials (
    name         text primary key,
    digest       bytea not null unique,
    -- `read+allocate`, as PDM_API_SCOPES writes them.
    scopes       text not null,
    quota        integer check (quota > 0),
    expires_at   timestamptz,
    created_at   timestamptz not null default now(),
    last_used_at timestamptz
);
