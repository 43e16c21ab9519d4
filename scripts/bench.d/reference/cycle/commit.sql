-- … commit (activate, its records taken as written: no DNS) …
with changed as (
    update pool_allocations
    set state = 'active', expires_at = null, sovereign_fqdn = $4,
        load_balancer_ip = $5, dns_hosts = array['*', 'console'],
        dns_state = 'synced', dns_version = dns_version + 1
    where pool_domain = $1 and subdomain = $2
      and state = 'reserved' and reservation_token = $3::text::uuid and expires_at > now()
    returning pool_domain, subdomain, load_balancer_ip),
logged as (insert into allocation_events (pool_domain, subdomain, event, actor, request_id, detail)
    select pool_domain, subdomain, 'committed', 'bench', null, load_balancer_ip from changed)
select count(*) from changed
