with changed as (
    insert into pool_allocations as held
        (pool_domain, subdomain, state, reserved_at, expires_at, reservation_token,
         created_by, owner)
    -- With $8, not where records PDM did not write stand at the sovereign's names, as last
    -- seen: one statement, so a reserve costs one round trip.
    select $1, $2, 'reserved', now(), now() + $3, $4, $5, $9
    where not ($8 and exists (
        select from zone_foreign_records where pool_domain = $1 and label = $2))
      and not exists (select from pool_freezes where pool_domain = $1)
    on conflict (pool_domain, subdomain) do update
    set state = 'reserved',
        reserved_at = excluded.reserved_at,
        expires_at = excluded.expires_at,
        sovereign_fqdn = null,
        load_balancer_ip = null,
        console_load_balancer_ip = null,
        console_hosts = null,
        reservation_token = excluded.reservation_token,
        created_by = excluded.created_by,
        owner = excluded.owner,
        dns_state = 'synced', dns_version = held.dns_version + 1, dns_attempts = 0,
        dns_last_error = null, dns_retry_at = null, dns_hosts = null,
        releasing_since = null
    where held.state = 'reserved' and held.expires_at <= now()
    returning pool_domain, subdomain, state, reserved_at, expires_at, sovereign_fqdn,
        load_balancer_ip, reservation_token, created_by,
        (state = 'reserved' and expires_at <= now()) as lapsed,
        dns_state, dns_version, dns_attempts, dns_retry_at, dns_hosts, releasing_since,
        dns_last_error, console_load_balancer_ip, console_hosts, owner,
        -- xmax is 0 on a fresh insert and set on a takeover (the conflict's update).
        held.xmax <> 0 as took_over),
logged as (
    insert into allocation_events
        (pool_domain, subdomain, event, actor, request_id, detail)
    select pool_domain, subdomain,
           case when took_over then 'taken-over' else 'reserved' end, $6, $7, null
    from changed)
select * from changed
