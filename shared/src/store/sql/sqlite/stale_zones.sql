select pool_domain
from pool_zones
where refreshed_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', (-?1) || ' seconds')
