-- See PostgreSQL's refuse.sql.
update pool_allocations
set state = 'reserved',
    expires_at = strftime('%Y-%m-%dT%H:%M:%fZ', reserved_at, (?4) || ' seconds'),
    sovereign_fqdn = null, load_balancer_ip = null, console_load_balancer_ip = null,
    console_hosts = null, dns_hosts = null, dns_state = 'synced',
    dns_version = dns_version + 1, dns_attempts = 0, dns_last_error = null,
    dns_retry_at = null
where pool_domain = ?1 and subdomain = ?2 and dns_version = ?3
  and state = 'active' and dns_state = 'pending' and releasing_since is null
