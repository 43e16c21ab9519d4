-- Records PDM did not write that stand at a sovereign's host names, as PDM last saw the zone
-- (see PostgreSQL's 0004).
create table zone_foreign_records (
    pool_domain text not null,
    label       text not null,
    name        text not null,
    record_type text not null,
    value       text not null,
    primary key (pool_domain, label, name, record_type, value)
);
