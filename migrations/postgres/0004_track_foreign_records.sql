-- Records PDM did not write that stand at a sovereign's host names (`console.acme`, `*.acme`),
-- as PDM last saw the zone: kept by its own reads and writes, so check can refuse such a
-- name (`dns-conflict`) from the table alone, without asking the provider.
create table if not exists zone_foreign_records (
    pool_domain text not null,
    -- The sovereign label the record would collide with (`acme`).
    label       text not null collate "C",
    name        text not null,
    record_type text not null,
    value       text not null,
    primary key (pool_domain, label, name, record_type, value)
);
