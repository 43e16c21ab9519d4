-- The three state changes of a sovereign's life at their least, each one durable statement
-- with its audit event: reserve (insert, or take over a lapsed reservation) …
with changed as (
    insert into pool_allocations as held
        (pool_domain, subdomain, state, reserved_at, expires_at, reservation_token, created_by)
    values ($1, $2, 'reserved', now(), now() + interval '10 minutes', gen_random_uuid(), 'bench')
    on conflict (pool_domain, subdomain) do update
    set state = 'reserved', reserved_at = excluded.reserved_at, expires_at = excluded.expires_at,
        reservation_token = excluded.reservation_token
    where held.state = 'reserved' and held.expires_at <= now()
    returning pool_domain, subdomain, reservation_token, held.xmax <> 0 as took_over),
logged as (insert into allocation_events (pool_domain, subdomain, event, actor, request_id)
    select pool_domain, subdomain, case when took_over then 'taken-over' else 'reserved' end,
           'bench', null from changed)
select reservation_token::text as token from changed
