with freed as (
    delete from pool_allocations
    where pool_domain = $1 and subdomain = $2 and state = 'reserved'
      and ($3::uuid is null or reservation_token = $3)
      and ($8::text is null or owner = $8)
    returning pool_domain, subdomain, state, reserved_at, expires_at, sovereign_fqdn,
        load_balancer_ip, reservation_token, created_by,
        (state = 'reserved' and expires_at <= now()) as lapsed,
        dns_state, dns_version, dns_attempts, dns_retry_at, dns_hosts, releasing_since,
        dns_last_error, console_load_balancer_ip, console_hosts, owner),
releasing as (
    update pool_allocations
    set releasing_since = coalesce(releasing_since, now()), dns_state = 'pending',
        dns_version = dns_version + 1, dns_attempts = 0, dns_retry_at = now() + $4
    where pool_domain = $1 and subdomain = $2 and state = 'active'
      and ($3::uuid is null or reservation_token = $3)
      and ($8::text is null or owner = $8)
    returning pool_domain, subdomain, state, reserved_at, expires_at, sovereign_fqdn,
        load_balancer_ip, reservation_token, created_by,
        (state = 'reserved' and expires_at <= now()) as lapsed,
        dns_state, dns_version, dns_attempts, dns_retry_at, dns_hosts, releasing_since,
        dns_last_error, console_load_balancer_ip, console_hosts, owner),
changed as (
    select *, true as freed from freed
    union all
    select *, false from releasing),
logged as (
    insert into allocation_events
        (pool_domain, subdomain, event, actor, request_id, detail)
    select pool_domain, subdomain,
           case when freed then 'released' else 'release-requested' end, $5, $6, $7
    from changed)
select * from changed
