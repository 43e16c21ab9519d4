-- The audit trail: one row per change of an allocation, appended by the same statement as
-- the change itself, so it can neither be lost nor claim a change that did not happen.
create table if not exists allocation_events (
    id          bigserial   primary key,
    pool_domain text        not null,
    subdomain   text        not null collate "C",
    event       text        not null check (event in (
                    'reserved', 'taken-over', 'committed', 'release-requested', 'released',
                    'expired', 'dns-synced', 'dns-failed')),
    -- The bearer token's name, createdBy, or the job (sweeper, reconciler).
    actor       text        not null,
    request_id  text,
    detail      text,
    at          timestamptz not null default now()
);

create index if not exists allocation_events_by_name
    on allocation_events (pool_domain, subdomain, id);
