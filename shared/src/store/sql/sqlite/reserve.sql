insert into pool_allocations
    (pool_domain, subdomain, state, reserved_at, expires_at, reservation_token,
     created_by, owner)
-- With ?6, not where records PDM did not write stand at its names (see PostgreSQL's).
select ?1, ?2, 'reserved', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
       strftime('%Y-%m-%dT%H:%M:%fZ', 'now', (?3) || ' seconds'), ?4, ?5, ?7
where not (?6 and exists (
    select 1 from zone_foreign_records where pool_domain = ?1 and label = ?2))
  and not exists (select 1 from pool_freezes where pool_domain = ?1)
on conflict (pool_domain, subdomain) do update
set state = 'reserved',
    reserved_at = excluded.reserved_at,
    expires_at = excluded.expires_at,
    sovereign_fqdn = null,
    load_balancer_ip = null,
    console_load_balancer_ip = null,
    console_hosts = null,
    reservation_token = excluded.reservation_token,
    created_by = excluded.created_by,
    owner = excluded.owner,
    dns_state = 'synced', dns_version = dns_version + 1, dns_attempts = 0,
    dns_last_error = null, dns_retry_at = null, dns_hosts = null,
    releasing_since = null
where state = 'reserved' and expires_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
returning pool_domain, subdomain, state, reserved_at, expires_at, sovereign_fqdn,
    load_balancer_ip, reservation_token, created_by,
    (state = 'reserved' and expires_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) as lapsed,
    dns_state, dns_version, dns_attempts, dns_retry_at, dns_hosts, releasing_since,
    dns_last_error, console_load_balancer_ip, console_hosts, owner
