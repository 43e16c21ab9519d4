-- The one statement PDM's check runs (Store::find), on names half present, half absent.
\set n random(0, 199999)
select pool_domain, subdomain, state, reserved_at, expires_at, sovereign_fqdn,
       load_balancer_ip, reservation_token, created_by,
       (state = 'reserved' and expires_at <= now()) as lapsed,
       dns_state, dns_version, dns_hosts, releasing_since
from pool_allocations
where pool_domain = 'omani.works' and subdomain = 'p' || lpad(:n::text, 6, '0');
