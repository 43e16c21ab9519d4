-- the zone's lock: the key is PDM's, "pdm:zone:openova.io" (a colon would be pgbench's
-- variable marker)
select pg_advisory_lock(hashtextextended(concat_ws(chr(58), 'pdm', 'zone', 'openova.io'), 0));
