-- Lifts the pool's freeze, with its audit event; how many it lifted (0 or 1).
with lifted as (
    delete from pool_freezes where pool_domain = $1 returning pool_domain),
logged as (
    insert into pool_events (pool_domain, event, actor, request_id)
    select pool_domain, 'unfrozen', $2, $3 from lifted)
select count(*) from lifted
