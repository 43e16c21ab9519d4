-- … and release (delete).
with changed as (
    delete from pool_allocations
    where pool_domain = $1 and subdomain = $2
    returning pool_domain, subdomain),
logged as (insert into allocation_events (pool_domain, subdomain, event, actor, request_id)
    select pool_domain, subdomain, 'released', 'bench', null from changed)
select count(*) from changed
