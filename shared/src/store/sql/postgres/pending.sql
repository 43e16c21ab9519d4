select pool_domain, subdomain, state, reserved_at, expires_at, sovereign_fqdn,
       load_balancer_ip, reservation_token, created_by,
       (state = 'reserved' and expires_at <= now()) as lapsed,
       dns_state, dns_version, dns_attempts, dns_retry_at, dns_hosts, releasing_since,
       dns_last_error, console_load_balancer_ip, console_hosts, owner
from pool_allocations
where dns_state = 'pending'
order by dns_retry_at
