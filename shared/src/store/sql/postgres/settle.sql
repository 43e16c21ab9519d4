-- A batch's changes that DNS now holds ($2 names at $3 versions, $4 each event's detail): a
-- release's row goes, a publish's is synced; a row changed since (a newer version) stays owed,
-- one settled already stays as it is. One statement for the whole batch.
with landed as (
    select * from unnest($2::text[], $3::bigint[], $4::text[]) as l (subdomain, version, detail)),
released as (
    delete from pool_allocations a
    using landed l
    where a.pool_domain = $1 and a.subdomain = l.subdomain and a.dns_version = l.version
      and a.dns_state = 'pending' and a.releasing_since is not null
    returning a.pool_domain, a.subdomain, l.detail),
synced as (
    update pool_allocations a
    set dns_state = 'synced', dns_attempts = 0, dns_last_error = null, dns_retry_at = null
    from landed l
    where a.pool_domain = $1 and a.subdomain = l.subdomain and a.dns_version = l.version
      and a.dns_state = 'pending' and a.releasing_since is null
    returning a.pool_domain, a.subdomain, l.detail),
settled as (
    select pool_domain, subdomain, 'released' as event, detail from released
    union all
    select pool_domain, subdomain, 'dns-synced', detail from synced),
logged as (
    insert into allocation_events
        (pool_domain, subdomain, event, actor, request_id, detail)
    select pool_domain, subdomain, event, $5, $6, detail
    from settled)
-- Settling only records what DNS already holds. Should a crash lose it, the row is still owed
-- and the reconciler applies the (idempotent) change again; so this commit need not wait for
-- the disk.
select subdomain::text, set_config('synchronous_commit', 'off', true)
from settled
