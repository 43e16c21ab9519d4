-- Taking a zone's lock and reading what the zone owes, in one round trip. One statement could
-- not do both: its snapshot is taken before any lock it then waits for, so it could miss what
-- the lock's previous holder settled and apply an older version over a newer one. A VOLATILE
-- function's statements each take a fresh snapshot, so the read below sees everything
-- committed before the lock was granted.
--
-- lock_name: PDM's session advisory lock for the zone, held by the calling connection until
-- it unlocks; zone: the pool; batch: at most this many changes; asked: a change a request
-- asks for now. Owed are fresh changes (their requests may be applying them now;
-- applying them twice is harmless), retries that are due, and the asked one; a change backing off
-- after failures waits.
create or replace function pdm_owed_under_zone_lock(
    lock_name text, zone text, batch bigint, asked text)
returns table (
    pool_domain text, subdomain text, state text, reserved_at timestamptz,
    expires_at timestamptz, sovereign_fqdn text, load_balancer_ip text,
    reservation_token uuid, created_by text, lapsed boolean, dns_state text,
    dns_version bigint, dns_attempts integer, dns_retry_at timestamptz, dns_hosts text[],
    releasing_since timestamptz)
-- PL/pgSQL, not SQL: it keeps its statement's plan for the session, where an SQL function
-- would plan it on every call.
language plpgsql volatile
as $$
begin
    perform pg_advisory_lock(hashtextextended(lock_name, 0));
    return query
        select a.pool_domain, a.subdomain::text, a.state, a.reserved_at, a.expires_at,
               a.sovereign_fqdn, a.load_balancer_ip, a.reservation_token, a.created_by,
               (a.state = 'reserved' and a.expires_at <= now()),
               a.dns_state, a.dns_version, a.dns_attempts, a.dns_retry_at, a.dns_hosts,
               a.releasing_since
        from pool_allocations a
        where a.pool_domain = zone and a.dns_state = 'pending'
          and (a.dns_attempts = 0 or a.dns_retry_at <= now() or a.subdomain = asked)
        order by a.subdomain
        limit batch;
end;
$$;
