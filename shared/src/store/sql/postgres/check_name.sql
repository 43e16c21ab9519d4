-- All that check needs to know of a name, in one statement: its row, the zone's room, and
-- (only while the name is free) the records the pool's other live allocations hold and the
-- records PDM did not write at the name's host names.
select a.state,
       coalesce(a.state = 'reserved' and a.expires_at <= now(), false) as lapsed,
       a.releasing_since is not null as releasing,
       z.pool_domain is not null as zone_seen,
       z.record_limit,
       z.foreign_records,
       case when (a.subdomain is null or (a.state = 'reserved' and a.expires_at <= now()))
                 and z.record_limit is not null
            then (select coalesce(sum(coalesce(cardinality(h.dns_hosts), $3)), 0)::bigint
                  from pool_allocations h
                  where h.pool_domain = $1 and h.subdomain <> $2
                    and not (h.state = 'reserved' and h.expires_at <= now()))
       end as held,
       case when a.subdomain is null or (a.state = 'reserved' and a.expires_at <= now())
            then (select coalesce(json_agg(json_build_object('name', f.name,
                                                             'record_type', f.record_type,
                                                             'value', f.value)
                                           order by f.name, f.record_type, f.value), '[]')::text
                  from zone_foreign_records f
                  where f.pool_domain = $1 and f.label = $2)
            else '[]'
       end as foreign_at_name,
       exists (select from pool_freezes p where p.pool_domain = $1) as frozen
from (select) as one
left join pool_allocations a on a.pool_domain = $1 and a.subdomain = $2
left join pool_zones z on z.pool_domain = $1
