insert into allocation_events
    (pool_domain, subdomain, event, actor, request_id, detail, at)
values (?1, ?2, ?3, ?4, ?5, ?6, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
