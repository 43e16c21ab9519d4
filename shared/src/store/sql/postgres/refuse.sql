-- A commit whose records the zone refuses for good (records PDM did not write at its names,
-- no room left) goes back to its reservation: same token, same expiry (the reservation's
-- TTL from when it was made), nothing owed to DNS. Only the version the batch tried.
with reverted as (
    update pool_allocations
    set state = 'reserved', expires_at = reserved_at + $4, sovereign_fqdn = null,
        load_balancer_ip = null, console_load_balancer_ip = null, console_hosts = null,
        dns_hosts = null, dns_state = 'synced', dns_version = dns_version + 1,
        dns_attempts = 0, dns_last_error = null, dns_retry_at = null
    where pool_domain = $1 and subdomain = $2 and dns_version = $3
      and state = 'active' and dns_state = 'pending' and releasing_since is null
    returning pool_domain, subdomain),
logged as (
    insert into allocation_events
        (pool_domain, subdomain, event, actor, request_id, detail)
    select pool_domain, subdomain, 'commit-refused', $5, $6, $7
    from reverted)
select count(*) from reverted
