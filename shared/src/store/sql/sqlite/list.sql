select pool_domain, subdomain, state, reserved_at, expires_at, sovereign_fqdn,
       load_balancer_ip, reservation_token, created_by,
       (state = 'reserved' and expires_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) as lapsed,
       dns_state, dns_version, dns_attempts, dns_retry_at, dns_hosts, releasing_since,
       dns_last_error, console_load_balancer_ip, console_hosts, owner
from pool_allocations
where pool_domain = ?1 and subdomain > coalesce(?2, '')
  and not (state = 'reserved' and expires_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
  and releasing_since is null
order by subdomain
limit coalesce(?3, -1)
