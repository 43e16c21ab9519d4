-- The three state changes of a sovereign's life as PDM writes them: reserve (insert with its
-- audit event), commit (activate with its event) and release (delete with its event).
\set n random(1, 2000000000)
with changed as (
    insert into pool_allocations as held
        (pool_domain, subdomain, state, reserved_at, expires_at, reservation_token, created_by)
    values ('openova.io', 'c' || :n || '-' || :client_id, 'reserved', now(),
            now() + interval '10 minutes', gen_random_uuid(), 'bench')
    on conflict (pool_domain, subdomain) do update
    set state = 'reserved', reserved_at = excluded.reserved_at, expires_at = excluded.expires_at,
        reservation_token = excluded.reservation_token
    where held.state = 'reserved' and held.expires_at <= now()
    returning pool_domain, subdomain, reservation_token, held.xmax <> 0 as took_over),
logged as (insert into allocation_events (pool_domain, subdomain, event, actor, request_id)
    select pool_domain, subdomain, case when took_over then 'taken-over' else 'reserved' end,
           'bench', null from changed)
select reservation_token as token from changed \gset
with changed as (
    update pool_allocations
    set state = 'active', expires_at = null, sovereign_fqdn = 'c' || :n || '.openova.io',
        load_balancer_ip = '203.0.113.10', dns_hosts = array['*', 'console'],
        dns_state = 'synced', dns_version = dns_version + 1
    where pool_domain = 'openova.io' and subdomain = 'c' || :n || '-' || :client_id
      and state = 'reserved' and reservation_token = :token::uuid and expires_at > now()
    returning pool_domain, subdomain, load_balancer_ip),
logged as (insert into allocation_events (pool_domain, subdomain, event, actor, request_id, detail)
    select pool_domain, subdomain, 'committed', 'bench', null, load_balancer_ip from changed)
select 1;
with changed as (
    delete from pool_allocations
    where pool_domain = 'openova.io' and subdomain = 'c' || :n || '-' || :client_id
    returning pool_domain, subdomain),
logged as (insert into allocation_events (pool_domain, subdomain, event, actor, request_id)
    select pool_domain, subdomain, 'released', 'bench', null from changed)
select 1;
