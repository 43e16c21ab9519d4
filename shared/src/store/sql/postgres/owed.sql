-- Takes the zone's lock and reads what the zone owes after it, in one round trip (the function
-- and why it is one: migration 0006).
select * from pdm_owed_under_zone_lock($1, $2, $3, $4)
