insert into pool_events (pool_domain, event, actor, request_id, detail, at)
values (?1, ?2, ?3, ?4, ?5, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
