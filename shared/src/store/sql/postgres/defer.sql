with changed as (
    update pool_allocations
    set dns_attempts = dns_attempts + 1, dns_last_error = $4,
        dns_retry_at = now() + least(
            make_interval(secs => $5 * power(2, least(dns_attempts, 16))),
            interval '5 minutes')
    where pool_domain = $1 and subdomain = $2 and dns_version = $3
    returning pool_domain, subdomain),
logged as (
    insert into allocation_events
        (pool_domain, subdomain, event, actor, request_id, detail)
    select pool_domain, subdomain, 'dns-failed', $6, $7, $4
    from changed)
select 1
