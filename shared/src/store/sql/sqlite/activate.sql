update pool_allocations
set state = 'active', expires_at = null, sovereign_fqdn = ?4,
    load_balancer_ip = ?5, dns_hosts = ?6, dns_state = 'pending',
    console_load_balancer_ip = ?9, console_hosts = ?10,
    dns_version = dns_version + 1, dns_attempts = 0, dns_last_error = null,
    dns_retry_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', (?7) || ' seconds')
where pool_domain = ?1 and subdomain = ?2
  and state = 'reserved' and reservation_token = ?3 and expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
  and (?11 is null or owner = ?11)
  -- With ?8, not where records PDM did not write stand at its names (see PostgreSQL's).
  and not (?8 and exists (
      select 1 from zone_foreign_records where pool_domain = ?1 and label = ?2))
returning pool_domain, subdomain, state, reserved_at, expires_at, sovereign_fqdn,
    load_balancer_ip, reservation_token, created_by,
    (state = 'reserved' and expires_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) as lapsed,
    dns_state, dns_version, dns_attempts, dns_retry_at, dns_hosts, releasing_since,
    dns_last_error, console_load_balancer_ip, console_hosts, owner
