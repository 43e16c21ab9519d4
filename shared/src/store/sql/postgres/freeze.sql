-- Freezes the pool (a repeated freeze says why anew), with its audit event.
with frozen as (
    insert into pool_freezes (pool_domain, reason, frozen_by)
    values ($1, $2, $3)
    on conflict (pool_domain) do update
    set reason = excluded.reason, frozen_by = excluded.frozen_by, frozen_at = now()
    returning pool_domain, reason, frozen_by, frozen_at),
logged as (
    insert into pool_events (pool_domain, event, actor, request_id, detail)
    select pool_domain, 'frozen', $3, $4, $2 from frozen)
select * from frozen
