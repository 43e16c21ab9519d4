select coalesce(sum(coalesce(json_array_length(dns_hosts), ?3)), 0)
from pool_allocations
where pool_domain = ?1 and subdomain is not ?2
  and not (state = 'reserved' and expires_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
