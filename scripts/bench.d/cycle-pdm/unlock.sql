select pg_advisory_unlock(hashtextextended(concat_ws(chr(58), 'pdm', 'zone', 'openova.io'), 0));
