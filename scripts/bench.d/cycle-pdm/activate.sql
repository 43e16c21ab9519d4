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
