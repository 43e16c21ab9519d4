//! The PostgreSQL store, production's. Every state change is one SQL statement (or one short
//! transaction), so PostgreSQL picks the winner of any race, across however many replicas
//! share the database. Time is the database's `now()`, so replicas with skewed clocks still
//! agree on what has expired.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use uuid::Uuid;

use super::connections::{Conn, Connections};
use super::{
    Activation, Actor, Allocation, Event, Freeze, HeldLock, Landed, LiveCredential, Release,
    Reservation, ReserveTerms, Store, StoreLock, StoredCredential, ZoneRoom, ZoneSeen, as_i64,
};
use crate::dns::ZoneRecord;
use crate::domain::{PoolDomain, Subdomain};

#[derive(Clone)]
pub struct PgStore {
    pool: Connections,
}

impl PgStore {
    /// Connects on demand, at most `max_connections` at once; `wait` bounds how long a caller
    /// waits for a connection.
    pub fn new(options: PgConnectOptions, max_connections: u32, wait: Duration) -> Self {
        // No statement of PDM's waits longer for a lock: that means something is stuck, and
        // the caller fails instead (a DNS change stays pending, a request answers 503).
        // Every statement is a key lookup that one generic plan serves: without this,
        // PostgreSQL plans check's statement anew on each run (custom and generic plans cost
        // alike), 1.3 ms a time; pgbench: 8.0k → 22.2k tps.
        let options = options.options([
            ("lock_timeout", "60s"),
            ("plan_cache_mode", "force_generic_plan"),
        ]);
        Self {
            pool: Connections::new(options, max_connections, wait),
        }
    }

    /// On the database, size and wait of an sqlx pool (tests and tools hold one).
    pub fn like(pool: &PgPool) -> Self {
        Self::new(
            (*pool.connect_options()).clone(),
            pool.options().get_max_connections(),
            pool.options().get_acquire_timeout(),
        )
    }

    /// sqlx holds an advisory lock while it migrates, so replicas starting at once are safe.
    async fn run_migrations(&self) -> Result<(), sqlx::migrate::MigrateError> {
        let mut conn = self.pool.acquire().await?;
        crate::MIGRATOR.run_direct(&mut *conn).await?;
        // A failed migration may leave its lock held: `?` closes the connection instead.
        conn.done(Ok(())).map_err(Into::into)
    }
}

shared_queries!(PgStore, crate::MIGRATOR, sql = "postgres");

#[async_trait::async_trait]
impl Store for PgStore {
    async fn find(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
    ) -> Result<Option<Allocation>, sqlx::Error> {
        sqlx::query_as(include_str!("sql/postgres/find.sql"))
            .bind(pool.as_str())
            .bind(sub.as_str())
            .fetch_optional(&self.pool)
            .await
    }

    /// Reserves the name, or takes over a lapsed reservation of it. With `room`, the zone's
    /// capacity is checked and the name reserved under one per-pool lock, so two racers cannot
    /// both take the last place.
    async fn reserve(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        terms: &ReserveTerms<'_>,
        actor: &Actor,
    ) -> Result<Reservation, sqlx::Error> {
        let quota = actor.quota();
        if terms.room.is_none() && quota.is_none() {
            let made = reserve_statement(pool, sub, terms, actor)
                .fetch_optional(&self.pool)
                .await?;
            return Ok(made.map_or(Reservation::Held, |a| Reservation::Made(Box::new(a))));
        }
        let mut conn = self.pool.acquire().await?;
        // On an error the transaction is left open: `?` drops the connection unfinished, which
        // closes it, and PostgreSQL rolls back.
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        // Each count is a new statement after its lock: its snapshot sees every reservation
        // the lock's previous holder made, so racing reserves cannot overshoot. Locks are
        // taken in one order (the owner's, then the pool's).
        let refusal = match quota {
            Some((owner, limit)) => {
                xact_lock(&mut tx, &format!("quota:{owner}")).await?;
                let live: i64 = sqlx::query_scalar(include_str!("sql/live_owned.sql"))
                    .bind(owner)
                    .bind(time::OffsetDateTime::now_utc())
                    .fetch_one(&mut *tx)
                    .await?;
                (live >= i64::from(limit)).then_some(Reservation::OverQuota { limit, live })
            }
            None => None,
        };
        let refusal = match (refusal, terms.room) {
            (None, Some((room, hosts))) => {
                xact_lock(&mut tx, &format!("reserve:{pool}")).await?;
                let held = held_records(pool, Some(sub), hosts)
                    .fetch_one(&mut *tx)
                    .await?;
                let needed = i64::from(room.foreign_records) + held + as_i64(hosts);
                (needed > i64::from(room.record_limit)).then_some(Reservation::Full)
            }
            (refusal, _) => refusal,
        };
        let reservation = match refusal {
            Some(refusal) => {
                tx.rollback().await?;
                refusal
            }
            None => {
                let made = reserve_statement(pool, sub, terms, actor)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                made.map_or(Reservation::Held, |a| Reservation::Made(Box::new(a)))
            }
        };
        conn.done(Ok(reservation))
    }

    /// Records the pool's allocations hold (or will once published), besides `except`.
    async fn held_records(
        &self,
        pool: &PoolDomain,
        except: Option<&Subdomain>,
        hosts: usize,
    ) -> Result<i64, sqlx::Error> {
        held_records(pool, except, hosts)
            .fetch_one(&self.pool)
            .await
    }

    /// Flips a live reservation holding `token` to active, owing its records to DNS. `None`
    /// when there is no such reservation; [`Store::find`] then tells why.
    async fn activate(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        activation: &Activation<'_>,
        actor: &Actor,
    ) -> Result<Option<Allocation>, sqlx::Error> {
        sqlx::query_as(include_str!("sql/postgres/activate.sql"))
            .bind(pool.as_str())
            .bind(sub.as_str())
            .bind(activation.token)
            .bind(activation.sovereign_fqdn)
            .bind(activation.load_balancer_ip)
            .bind(activation.hosts)
            .bind(activation.lease)
            .bind(&actor.name)
            .bind(&actor.request_id)
            .bind(activation.refuse_foreign)
            .bind(activation.console.map(|(ip, _)| ip))
            .bind(activation.console.map(|(_, hosts)| hosts))
            .bind(actor.owner_required())
            .fetch_optional(&self.pool)
            .await
    }

    async fn accepts_writes(&self) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar(
            "select not (pg_is_in_recovery() or current_setting('transaction_read_only')::bool)",
        )
        .fetch_one(&self.pool)
        .await
    }

    /// The newest migration applied, if the schema exists.
    async fn schema_version(&self) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar("select max(version) from _sqlx_migrations where success")
            .fetch_one(&self.pool)
            .await
    }

    async fn release(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        token: Option<Uuid>,
        lease: Duration,
        actor: &Actor,
    ) -> Result<Option<Release>, sqlx::Error> {
        // One statement: both branches see one snapshot, where the row is either reserved or
        // active, so at most one of them changes it. Should a commit land between that
        // snapshot and the write, neither does; `Pdm::release` then runs it again.
        let released: Option<Released> = sqlx::query_as(include_str!("sql/postgres/release.sql"))
            .bind(pool.as_str())
            .bind(sub.as_str())
            .bind(token)
            .bind(lease)
            .bind(&actor.name)
            .bind(&actor.request_id)
            .bind(&actor.reason)
            .bind(actor.owner_required())
            .fetch_optional(&self.pool)
            .await?;
        Ok(released.map(Released::into_release))
    }

    /// DNS now holds what `version` of the row asked for: mark it synced, or delete the row
    /// when that was a release. A row changed since (a newer version) stays pending.
    async fn settle(
        &self,
        pool: &PoolDomain,
        landed: &[Landed],
        actor: &Actor,
    ) -> Result<Vec<String>, sqlx::Error> {
        if landed.is_empty() {
            return Ok(Vec::new());
        }
        let subs: Vec<&str> = landed.iter().map(|l| l.sub.as_str()).collect();
        let versions: Vec<i64> = landed.iter().map(|l| l.version).collect();
        let details: Vec<Option<&str>> = landed.iter().map(|l| l.detail.as_deref()).collect();
        let settled: Vec<(String, String)> =
            sqlx::query_as(include_str!("sql/postgres/settle.sql"))
                .bind(pool.as_str())
                .bind(subs)
                .bind(versions)
                .bind(details)
                .bind(&actor.name)
                .bind(&actor.request_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(settled.into_iter().map(|(sub, _)| sub).collect())
    }

    /// Records a failed DNS change and when to retry it: `base`, doubling per attempt, at most
    /// five minutes.
    async fn defer(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        version: i64,
        error: &str,
        base: Duration,
        actor: &Actor,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("sql/postgres/defer.sql"))
            .bind(pool.as_str())
            .bind(sub.as_str())
            .bind(version)
            .bind(error)
            .bind(base.as_secs_f64())
            .bind(&actor.name)
            .bind(&actor.request_id)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    async fn refuse(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        version: i64,
        ttl: Duration,
        why: &str,
        actor: &Actor,
    ) -> Result<bool, sqlx::Error> {
        let reverted: i64 = sqlx::query_scalar(include_str!("sql/postgres/refuse.sql"))
            .bind(pool.as_str())
            .bind(sub.as_str())
            .bind(version)
            .bind(ttl)
            .bind(&actor.name)
            .bind(&actor.request_id)
            .bind(why)
            .fetch_one(&self.pool)
            .await?;
        Ok(reverted > 0)
    }

    /// One round trip: a function takes the session advisory lock, then reads with a
    /// snapshot of its own (migration 0006).
    async fn lock_owed(
        &self,
        key: &str,
        pool: &PoolDomain,
        asked: Option<&Subdomain>,
        limit: i64,
    ) -> Result<(StoreLock, Vec<Allocation>), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        let name = lock_name(key);
        // On an error the lock may be held: `?` drops the connection unfinished, which closes
        // it and so releases the lock.
        let owed = sqlx::query_as(include_str!("sql/postgres/owed.sql"))
            .bind(&name)
            .bind(pool.as_str())
            .bind(limit)
            .bind(asked.map(Subdomain::as_str))
            .fetch_all(&mut *conn)
            .await?;
        Ok((StoreLock::new(AdvisoryLock { conn, name }), owed))
    }

    async fn zones_owing(&self) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(include_str!("sql/postgres/zones_owing.sql"))
            .fetch_all(&self.pool)
            .await
    }

    /// Rows whose DNS change is owed, soonest first.
    async fn republish(&self) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(include_str!("sql/postgres/republish.sql"))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn pending(&self) -> Result<Vec<Allocation>, sqlx::Error> {
        sqlx::query_as(include_str!("sql/postgres/pending.sql"))
            .fetch_all(&self.pool)
            .await
    }

    /// Every row of the pool, lapsed or releasing included.
    async fn list_all(&self, pool: &PoolDomain) -> Result<Vec<Allocation>, sqlx::Error> {
        sqlx::query_as(include_str!("sql/postgres/list_all.sql"))
            .bind(pool.as_str())
            .fetch_all(&self.pool)
            .await
    }

    /// Live allocations of the pool after `after`, by subdomain, at most `limit` (all when
    /// `None`). Keyset, not offset, so every page costs the same.
    async fn list(
        &self,
        pool: &PoolDomain,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Vec<Allocation>, sqlx::Error> {
        sqlx::query_as(include_str!("sql/postgres/list.sql"))
            .bind(pool.as_str())
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
    }

    /// Names PDM's records stand at in the pool: `host.sub` of every active allocation.
    async fn owned_names(&self, pool: &PoolDomain) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "select lower(host || '.' || subdomain)
             from pool_allocations, unnest(dns_hosts) as host
             where pool_domain = $1 and state = 'active'",
        )
        .bind(pool.as_str())
        .fetch_all(&self.pool)
        .await
    }

    /// Pools whose room was measured longer than `age` ago, or never.
    async fn stale_zones(
        &self,
        pools: &[String],
        age: Duration,
    ) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "select p from unnest($1::text[]) as p
             where not exists (select 1 from pool_zones z
                               where z.pool_domain = p and z.refreshed_at > now() - $2)",
        )
        .bind(pools)
        .bind(age)
        .fetch_all(&self.pool)
        .await
    }

    async fn save_zone(&self, pool: &PoolDomain, seen: &ZoneSeen) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        // On an error the transaction is left open: `?` drops the connection unfinished, which
        // closes it, and PostgreSQL rolls back.
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::query(
            "insert into pool_zones (pool_domain, record_limit, foreign_records, refreshed_at)
             values ($1, $2, $3, now())
             on conflict (pool_domain) do update
             set record_limit = excluded.record_limit,
                 foreign_records = excluded.foreign_records,
                 refreshed_at = excluded.refreshed_at",
        )
        .bind(pool.as_str())
        .bind(seen.record_limit)
        .bind(seen.foreign_records)
        .execute(&mut *tx)
        .await?;
        let (labels, records): (Vec<&str>, Vec<&ZoneRecord>) = seen
            .foreign_at_labels
            .iter()
            .map(|(label, record)| (label.as_str(), record))
            .unzip();
        sqlx::query("delete from zone_foreign_records where pool_domain = $1")
            .bind(pool.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "insert into zone_foreign_records (pool_domain, label, name, record_type, value)
             select distinct $1, * from unnest($2::text[], $3::text[], $4::text[], $5::text[])",
        )
        .bind(pool.as_str())
        .bind(labels)
        .bind(records.iter().map(|r| r.name.as_str()).collect::<Vec<_>>())
        .bind(
            records
                .iter()
                .map(|r| r.record_type.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(records.iter().map(|r| r.value.as_str()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        conn.done(Ok(()))
    }

    /// A session advisory lock, held by the connection it was taken on: one statement to
    /// lock, one to unlock, and a holder that crashes or is cancelled releases it with its
    /// connection.
    async fn lock(&self, key: &str) -> Result<StoreLock, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        let name = lock_name(key);
        sqlx::query("select pg_advisory_lock(hashtextextended($1, 0))")
            .bind(&name)
            .execute(&mut *conn)
            .await?;
        Ok(StoreLock::new(AdvisoryLock { conn, name }))
    }

    async fn create_credential(
        &self,
        name: &str,
        digest: &[u8],
        scopes: &str,
        (quota, expires_at): (Option<i32>, Option<time::OffsetDateTime>),
    ) -> Result<Option<StoredCredential>, sqlx::Error> {
        sqlx::query_as(
            "insert into api_credentials (name, digest, scopes, quota, expires_at)
             values ($1, $2, $3, $4, $5)
             on conflict do nothing
             returning name, scopes, quota, expires_at, created_at, last_used_at",
        )
        .bind(name)
        .bind(digest)
        .bind(scopes)
        .bind(quota)
        .bind(expires_at)
        .fetch_optional(&self.pool)
        .await
    }

    async fn live_credentials(&self) -> Result<Vec<LiveCredential>, sqlx::Error> {
        sqlx::query_as(
            "select name, digest, scopes, quota from api_credentials
             where expires_at is null or expires_at > now()",
        )
        .fetch_all(&self.pool)
        .await
    }

    async fn touch_credential(&self, name: &str) -> Result<(), sqlx::Error> {
        sqlx::query("update api_credentials set last_used_at = now() where name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    async fn freeze(
        &self,
        pool: &PoolDomain,
        reason: &str,
        actor: &Actor,
    ) -> Result<Freeze, sqlx::Error> {
        sqlx::query_as(include_str!("sql/postgres/freeze.sql"))
            .bind(pool.as_str())
            .bind(reason)
            .bind(&actor.name)
            .bind(&actor.request_id)
            .fetch_one(&self.pool)
            .await
    }

    async fn unfreeze(&self, pool: &PoolDomain, actor: &Actor) -> Result<bool, sqlx::Error> {
        let lifted: i64 = sqlx::query_scalar(include_str!("sql/postgres/unfreeze.sql"))
            .bind(pool.as_str())
            .bind(&actor.name)
            .bind(&actor.request_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(lifted > 0)
    }

    async fn try_lock(&self, key: &str) -> Result<Option<StoreLock>, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        let name = lock_name(key);
        let taken: bool =
            sqlx::query_scalar("select pg_try_advisory_lock(hashtextextended($1, 0))")
                .bind(&name)
                .fetch_one(&mut *conn)
                .await?;
        // Not taken: the connection holds nothing and goes back to the pool.
        Ok(taken.then(|| StoreLock::new(AdvisoryLock { conn, name })))
    }

    /// Deletes up to `batch` lapsed reservations, skipping rows another transaction holds (a
    /// reserve taking one over), so the sweeper never makes a request wait. Returns how many.
    async fn delete_lapsed(&self, batch: i64) -> Result<u64, sqlx::Error> {
        let deleted: i64 = sqlx::query_scalar(include_str!("sql/postgres/delete_lapsed.sql"))
            .bind(batch)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(deleted).unwrap_or_default())
    }
}

/// Takes the transaction-scoped lock `key`: held until the transaction ends.
async fn xact_lock(tx: &mut sqlx::PgConnection, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(lock_name(key))
        .execute(tx)
        .await
        .map(drop)
}

/// The advisory lock's name for `key`, apart from other applications' locks.
fn lock_name(key: &str) -> String {
    format!("pdm:{key}")
}

/// A session advisory lock and the connection holding it. Dropped without
/// [`HeldLock::release`], the connection is closed, which releases the lock.
struct AdvisoryLock {
    conn: Conn,
    name: String,
}

#[async_trait::async_trait]
impl HeldLock for AdvisoryLock {
    async fn release(self: Box<Self>) {
        let Self { mut conn, name } = *self;
        let unlocked = sqlx::query("select pg_advisory_unlock(hashtextextended($1, 0))")
            .bind(&name)
            .execute(&mut *conn)
            .await;
        // Should the unlock fail, the connection is closed, which unlocks too.
        let _ = conn.done(unlocked);
    }
}

/// A released row and which way it went.
#[derive(sqlx::FromRow)]
struct Released {
    #[sqlx(flatten)]
    allocation: Allocation,
    freed: bool,
}

impl Released {
    fn into_release(self) -> Release {
        let allocation = Box::new(self.allocation);
        if self.freed {
            Release::Freed(allocation)
        } else {
            Release::Releasing(allocation)
        }
    }
}

type AllocationQuery<'q> =
    sqlx::query::QueryAs<'q, sqlx::Postgres, Allocation, sqlx::postgres::PgArguments>;

/// Inserts a reservation, or takes over a lapsed one, in one statement (with its event).
/// Concurrent inserts of one key serialize on the primary key; the loser re-checks the `where`
/// against the winner's row, finds a live reservation and returns nothing.
fn reserve_statement<'q>(
    pool: &'q PoolDomain,
    sub: &'q Subdomain,
    terms: &ReserveTerms<'q>,
    actor: &'q Actor,
) -> AllocationQuery<'q> {
    sqlx::query_as(include_str!("sql/postgres/reserve.sql"))
        .bind(pool.as_str())
        .bind(sub.as_str())
        .bind(terms.ttl)
        .bind(Uuid::new_v4())
        .bind(terms.created_by)
        .bind(&actor.name)
        .bind(&actor.request_id)
        .bind(terms.refuse_foreign)
        .bind(actor.owner())
}

type CountQuery<'q> =
    sqlx::query::QueryScalar<'q, sqlx::Postgres, i64, sqlx::postgres::PgArguments>;

/// Sub records the pool's live allocations take: their written hosts, or `hosts` each for
/// reservations not committed yet.
fn held_records<'q>(
    pool: &'q PoolDomain,
    except: Option<&'q Subdomain>,
    hosts: usize,
) -> CountQuery<'q> {
    sqlx::query_scalar(
        "select coalesce(sum(coalesce(cardinality(dns_hosts), $3)), 0)::bigint
         from pool_allocations
         where pool_domain = $1 and subdomain is distinct from $2
           and not (state = 'reserved' and expires_at <= now())",
    )
    .bind(pool.as_str())
    .bind(except.map(Subdomain::as_str))
    .bind(as_i64(hosts))
}
