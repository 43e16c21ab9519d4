update pool_allocations
set dns_retry_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', (?2) || ' seconds')
where (pool_domain, subdomain) in (
    select pool_domain, subdomain from pool_allocations
    where dns_state = 'pending' and dns_retry_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    order by dns_retry_at
    limit ?1)
returning pool_domain, subdomain
