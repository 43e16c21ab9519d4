with changed as (
    update pool_allocations
    set state = 'active', expires_at = null, sovereign_fqdn = $4,
        load_balancer_ip = $5, dns_hosts = $6, dns_state = 'pending',
        console_load_balancer_ip = $11, console_hosts = $12,
        dns_version = dns_version + 1, dns_attempts = 0, dns_last_error = null,
        dns_retry_at = now() + $7
    where pool_domain = $1 and subdomain = $2
      and state = 'reserved' and reservation_token = $3 and expires_at > now()
      -- An `allocate` credential commits only what it reserved.
      and ($13::text is null or owner = $13)
      -- With $10, not where records PDM did not write stand at its names (see reserve.sql).
      and not ($10 and exists (
          select from zone_foreign_records where pool_domain = $1 and label = $2))
    returning pool_domain, subdomain, state, reserved_at, expires_at, sovereign_fqdn,
        load_balancer_ip, reservation_token, created_by,
        (state = 'reserved' and expires_at <= now()) as lapsed,
        dns_state, dns_version, dns_attempts, dns_retry_at, dns_hosts, releasing_since,
        dns_last_error, console_load_balancer_ip, console_hosts, owner),
logged as (
    insert into allocation_events
        (pool_domain, subdomain, event, actor, request_id, detail)
    select pool_domain, subdomain, 'committed', $8, $9, $5
    from changed)
select * from changed
