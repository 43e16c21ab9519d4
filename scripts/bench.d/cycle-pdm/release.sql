-- release: mark releasing
with freed as (
    delete from pool_allocations
    where pool_domain = 'openova.io' and subdomain = 'p' || :n || '-' || :client_id
      and state = 'reserved'
    returning pool_domain, subdomain, dns_version, true as freed),
releasing as (
    update pool_allocations
    set releasing_since = coalesce(releasing_since, now()), dns_state = 'pending',
        dns_version = dns_version + 1, dns_attempts = 0,
        dns_retry_at = now() + interval '60 seconds'
    where pool_domain = 'openova.io' and subdomain = 'p' || :n || '-' || :client_id
      and state = 'active'
    returning pool_domain, subdomain, dns_version, false as freed),
changed as (select * from freed union all select * from releasing),
logged as (insert into allocation_events (pool_domain, subdomain, event, actor, request_id, detail)
    select pool_domain, subdomain,
           case when freed then 'released' else 'release-requested' end, 'bench', 'd', null
    from changed)
select dns_version as version from changed \gset
