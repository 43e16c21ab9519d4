-- PDM's own nine statements for one cycle, as its PostgreSQL store sends them (log-only DNS, so
-- the DNS call before each settle is nothing): reserve; commit = activate, then under the
-- zone's lock settle; release = mark releasing, then under the lock settle (the delete). The
-- floor for PDM's cycle over HTTP, as check.sql is for its check.
\set n random(1, 2000000000)
-- reserve
with changed as (
    insert into pool_allocations as held
        (pool_domain, subdomain, state, reserved_at, expires_at, reservation_token, created_by)
    values ('openova.io', 'p' || :n || '-' || :client_id, 'reserved', now(),
            now() + interval '10 minutes', gen_random_uuid(), 'bench')
    on conflict (pool_domain, subdomain) do update
    set state = 'reserved', reserved_at = excluded.reserved_at, expires_at = excluded.expires_at,
        sovereign_fqdn = null, load_balancer_ip = null,
        reservation_token = excluded.reservation_token, created_by = excluded.created_by,
        dns_state = 'synced', dns_version = held.dns_version + 1, dns_attempts = 0,
        dns_last_error = null, dns_retry_at = null, dns_hosts = null, releasing_since = null
    where held.state = 'reserved' and held.expires_at <= now()
    returning pool_domain, subdomain, state, reserved_at, expires_at, sovereign_fqdn,
              load_balancer_ip, reservation_token, created_by,
              (state = 'reserved' and expires_at <= now()) as lapsed,
              dns_state, dns_version, dns_hosts, releasing_since, held.xmax <> 0 as took_over),
logged as (insert into allocation_events (pool_domain, subdomain, event, actor, request_id, detail)
    select pool_domain, subdomain, case when took_over then 'taken-over' else 'reserved' end,
           'bench', 'r', null from changed)
select reservation_token as token from changed \gset
-- commit: activate
with changed as (
    update pool_allocations
    set state = 'active', expires_at = null, sovereign_fqdn = 'p' || :n || '.openova.io',
        load_balancer_ip = '203.0.113.10',
        dns_hosts = array['*', 'console', 'gitea', 'harbor', 'admin', 'api'],
        dns_state = 'pending', dns_version = dns_version + 1, dns_attempts = 0,
        dns_last_error = null, dns_retry_at = now() + interval '60 seconds'
    where pool_domain = 'openova.io' and subdomain = 'p' || :n || '-' || :client_id
      and state = 'reserved' and reservation_token = :token::uuid and expires_at > now()
    returning pool_domain, subdomain, state, reserved_at, expires_at, sovereign_fqdn,
              load_balancer_ip, reservation_token, created_by,
              (state = 'reserved' and expires_at <= now()) as lapsed,
              dns_state, dns_version, dns_hosts, releasing_since),
logged as (insert into allocation_events (pool_domain, subdomain, event, actor, request_id, detail)
    select pool_domain, subdomain, 'committed', 'bench', 'c', '203.0.113.10' from changed)
select dns_version as version from changed \gset
-- commit: publish under the zone's lock (the key is PDM's, "pdm:zone:openova.io"; a colon would
-- be pgbench's variable marker)
select pg_advisory_lock(hashtextextended(concat_ws(chr(58), 'pdm', 'zone', 'openova.io'), 0));
with released as (
    delete from pool_allocations
    where pool_domain = 'openova.io' and subdomain = 'p' || :n || '-' || :client_id
      and dns_version = :version and dns_state = 'pending' and releasing_since is not null
    returning pool_domain, subdomain),
synced as (
    update pool_allocations
    set dns_state = 'synced', dns_attempts = 0, dns_last_error = null, dns_retry_at = null
    where pool_domain = 'openova.io' and subdomain = 'p' || :n || '-' || :client_id
      and dns_version = :version and dns_state = 'pending' and releasing_since is null
    returning pool_domain, subdomain),
settled as (
    select pool_domain, subdomain, 'released' as event from released
    union all
    select pool_domain, subdomain, 'dns-synced' from synced),
logged as (insert into allocation_events (pool_domain, subdomain, event, actor, request_id, detail)
    select pool_domain, subdomain, event, 'bench', 'c', null from settled)
select exists (select from settled) as settled, set_config('synchronous_commit', 'off', true);
select pg_advisory_unlock(hashtextextended(concat_ws(chr(58), 'pdm', 'zone', 'openova.io'), 0));
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
-- release: withdraw under the zone's lock
select pg_advisory_lock(hashtextextended(concat_ws(chr(58), 'pdm', 'zone', 'openova.io'), 0));
with released as (
    delete from pool_allocations
    where pool_domain = 'openova.io' and subdomain = 'p' || :n || '-' || :client_id
      and dns_version = :version and dns_state = 'pending' and releasing_since is not null
    returning pool_domain, subdomain),
synced as (
    update pool_allocations
    set dns_state = 'synced', dns_attempts = 0, dns_last_error = null, dns_retry_at = null
    where pool_domain = 'openova.io' and subdomain = 'p' || :n || '-' || :client_id
      and dns_version = :version and dns_state = 'pending' and releasing_since is null
    returning pool_domain, subdomain),
settled as (
    select pool_domain, subdomain, 'released' as event from released
    union all
    select pool_domain, subdomain, 'dns-synced' from synced),
logged as (insert into allocation_events (pool_domain, subdomain, event, actor, request_id, detail)
    select pool_domain, subdomain, event, 'bench', 'd', null from settled)
select exists (select from settled) as settled, set_config('synchronous_commit', 'off', true);
select pg_advisory_unlock(hashtextextended(concat_ws(chr(58), 'pdm', 'zone', 'openova.io'), 0));
