-- All that check needs to know of a name, in one statement (see PostgreSQL's check_name.sql).
select a.state,
       coalesce(a.state = 'reserved' and a.expires_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
                false) as lapsed,
       a.releasing_since is not null as releasing,
       z.pool_domain is not null as zone_seen,
       z.record_limit,
       z.foreign_records,
       case when (a.subdomain is null
                  or (a.state = 'reserved'
                      and a.expires_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))
                 and z.record_limit is not null
            then (select coalesce(sum(coalesce(json_array_length(h.dns_hosts), ?3)), 0)
                  from pool_allocations h
                  where h.pool_domain = ?1 and h.subdomain <> ?2
                    and not (h.state = 'reserved'
                             and h.expires_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))
       end as held,
       case when a.subdomain is null
                 or (a.state = 'reserved'
                     and a.expires_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
            then (select coalesce(json_group_array(json_object('name', name,
                                                               'record_type', record_type,
                                                               'value', value)), '[]')
                  from (select name, record_type, value from zone_foreign_records
                        where pool_domain = ?1 and label = ?2
                        order by name, record_type, value))
            else '[]'
       end as foreign_at_name,
       exists (select 1 from pool_freezes p where p.pool_domain = ?1) as frozen
from (select 1) as one
left join pool_allocations a on a.pool_domain = ?1 and a.subdomain = ?2
left join pool_zones z on z.pool_domain = ?1
