update pool_allocations
set dns_attempts = dns_attempts + 1, dns_last_error = ?4,
    -- ?5 seconds, doubling per attempt, at most five minutes.
    dns_retry_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now',
                            (min(?5 * (1 << min(dns_attempts, 16)), 300.0)) || ' seconds')
where pool_domain = ?1 and subdomain = ?2 and dns_version = ?3
