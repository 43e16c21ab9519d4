select pool_domain,
       case when releasing_since is not null then 'releasing' else state end,
       count(*)
from pool_allocations
where not (state = 'reserved' and expires_at <= now())
group by 1, 2
