with released as (
    delete from pool_allocations
    where pool_domain = $1 and subdomain = $2 and dns_version = $3
      and dns_state = 'pending' and releasing_since is not null
    returning pool_domain, subdomain),
synced as (
    update pool_allocations
    set dns_state = 'synced', dns_attempts = 0, dns_last_error = null,
        dns_retry_at = null
    where pool_domain = $1 and subdomain = $2 and dns_version = $3
      and dns_state = 'pending' and releasing_since is null
    returning pool_domain, subdomain),
settled as (
    select pool_domain, subdomain, 'released' as event from released
    union all
    select pool_domain, subdomain, 'dns-synced' from synced),
logged as (
    insert into allocation_events
        (pool_domain, subdomain, event, actor, request_id, detail)
    select pool_domain, subdomain, event, $4, $5, $6
    from settled)
-- Settling only records what DNS already holds. Should a crash lose it, the row is still owed
-- and the reconciler applies the (idempotent) change again; so this commit need not wait for
-- the disk.
select exists (select from settled) as settled,
       set_config('synchronous_commit', 'off', true)
