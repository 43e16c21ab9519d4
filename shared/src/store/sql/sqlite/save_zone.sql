insert into pool_zones (pool_domain, record_limit, foreign_records, refreshed_at)
values (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
on conflict (pool_domain) do update
set record_limit = excluded.record_limit,
    foreign_records = excluded.foreign_records,
    refreshed_at = excluded.refreshed_at
