delete from pool_allocations
where (pool_domain, subdomain) in (
    select pool_domain, subdomain from pool_allocations
    where state = 'reserved' and expires_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    order by expires_at
    limit ?1)
returning pool_domain, subdomain
