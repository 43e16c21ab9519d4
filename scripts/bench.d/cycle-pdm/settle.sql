-- DNS holds the change (log-only: nothing to call): settle it
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
