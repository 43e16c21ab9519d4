-- See PostgreSQL's freeze.sql; the event is written beside it in the same transaction.
insert into pool_freezes (pool_domain, reason, frozen_by, frozen_at)
values (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
on conflict (pool_domain) do update
set reason = excluded.reason, frozen_by = excluded.frozen_by, frozen_at = excluded.frozen_at
returning pool_domain, reason, frozen_by, frozen_at
