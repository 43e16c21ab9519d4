-- Zones with a DNS change due: the reconciler's work, one batch per zone.
select distinct pool_domain
from pool_allocations
where dns_state = 'pending' and dns_retry_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
