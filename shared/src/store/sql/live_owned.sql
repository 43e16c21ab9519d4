-- The live allocations (reserved and not lapsed, active, releasing) a credential owns in every
-- pool: what its quota caps. The same statement on both stores.
select count(*) from pool_allocations
where owner = $1 and (state = 'active' or expires_at > $2)
