with changed as (
    delete from pool_allocations
    where (pool_domain, subdomain) in (
        select pool_domain, subdomain from pool_allocations
        where state = 'reserved' and expires_at <= now()
        order by expires_at
        limit $1
        for update skip locked)
    returning pool_domain, subdomain),
logged as (
    insert into allocation_events
        (pool_domain, subdomain, event, actor, request_id, detail)
    select pool_domain, subdomain, 'expired', 'sweeper', null, null
    from changed)
select count(*) from changed
