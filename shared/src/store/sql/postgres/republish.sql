-- Every committed allocation owes DNS its records again (see Store::republish). Releasing
-- ones already owe their removal.
update pool_allocations
set dns_state = 'pending', dns_version = dns_version + 1, dns_attempts = 0,
    dns_last_error = null, dns_retry_at = now()
where state = 'active' and releasing_since is null
