-- The one table PDM decides availability from. `if not exists` keeps this safe on a database
-- the original service already created.
create table if not exists pool_allocations (
    pool_domain       text        not null,
    -- Byte order ("C"): labels are ASCII, and list's keyset pages must follow the primary key.
    subdomain         text        not null collate "C",
    state             text        not null check (state in ('reserved', 'active')),
    reserved_at       timestamptz not null default now(),
    -- Set while reserved, null once active: a reservation always lapses, an allocation never.
    expires_at        timestamptz,
    sovereign_fqdn    text,
    -- Text, not inet, to match the original schema; PDM writes the canonical form.
    load_balancer_ip  text,
    reservation_token uuid        not null,
    created_by        text        not null default '',
    primary key (pool_domain, subdomain)
);

-- The sweeper and reserve's takeover look up lapsed reservations by time.
create index if not exists pool_allocations_reserved_expires_at
    on pool_allocations (expires_at)
    where state = 'reserved';
