//! The embedded SQLite store: PDM with no database server, for first runs and single-process
//! use. SQLite has one writer at a time, so every change runs in a `BEGIN IMMEDIATE`
//! transaction (the change and its audit event together): racers queue on the write lock and
//! each sees the winner's row, as with PostgreSQL's conflict handling. Time is SQLite's own
//! clock, written as fixed-shape UTC text so that text order is time order.
//!
//! Zone locks live in this process: SQLite is not shared between replicas (use PostgreSQL).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{FromRow, Row, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::{
    Activation, Actor, Allocation, Event, Freeze, Landed, LiveCredential, Release, Reservation,
    ReserveTerms, Store, StoreLock, StoredCredential, ZoneRoom, ZoneSeen, as_i64,
};
use crate::domain::{PoolDomain, Subdomain};

/// `dns_hosts` is a JSON array here (PostgreSQL has `text[]`).
struct Stored(Allocation);

impl<'r> FromRow<'r, SqliteRow> for Stored {
    fn from_row(row: &'r SqliteRow) -> Result<Self, sqlx::Error> {
        let hosts = |column: &str| -> Result<Option<Vec<String>>, sqlx::Error> {
            let json: Option<String> = row.try_get(column)?;
            json.map(|json| serde_json::from_str(&json))
                .transpose()
                .map_err(|e| sqlx::Error::ColumnDecode {
                    index: column.to_owned(),
                    source: e.into(),
                })
        };
        Ok(Self(Allocation {
            pool_domain: row.try_get("pool_domain")?,
            subdomain: row.try_get("subdomain")?,
            state: row.try_get("state")?,
            reserved_at: row.try_get("reserved_at")?,
            expires_at: row.try_get("expires_at")?,
            sovereign_fqdn: row.try_get("sovereign_fqdn")?,
            load_balancer_ip: row.try_get("load_balancer_ip")?,
            reservation_token: row.try_get("reservation_token")?,
            created_by: row.try_get("created_by")?,
            lapsed: row.try_get("lapsed")?,
            dns_state: row.try_get("dns_state")?,
            dns_version: row.try_get("dns_version")?,
            dns_attempts: row.try_get("dns_attempts")?,
            dns_retry_at: row.try_get("dns_retry_at")?,
            dns_hosts: hosts("dns_hosts")?,
            releasing_since: row.try_get("releasing_since")?,
            dns_last_error: row.try_get("dns_last_error")?,
            console_load_balancer_ip: row.try_get("console_load_balancer_ip")?,
            console_hosts: hosts("console_hosts")?,
            owner: row.try_get("owner")?,
        }))
    }
}

fn unwrap(stored: Option<Stored>) -> Option<Allocation> {
    stored.map(|Stored(allocation)| allocation)
}

#[derive(Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Zone locks of this process, by key.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl SqliteStore {
    pub fn new(pool: SqlitePool) -> Self {
        Self {
            pool,
            locks: Mutex::default(),
        }
    }

    /// The zone lock named `key`, in this process.
    fn lock_of(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(key.to_owned())
            .or_default()
            .clone()
    }

    /// A write transaction: it takes SQLite's write lock at once, so a read inside it can
    /// never be overtaken by another writer.
    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// Runs `statement` (an allocation-returning change) and logs `event` for its row, if
    /// any, in one write transaction.
    async fn change_logged<'q>(
        &self,
        statement: sqlx::query::QueryAs<'q, sqlx::Sqlite, Stored, SqliteArguments<'q>>,
        event: &str,
        actor: &Actor,
        detail: Option<&str>,
    ) -> Result<Option<Allocation>, sqlx::Error> {
        let mut tx = self.write().await?;
        let changed = unwrap(statement.fetch_optional(&mut *tx).await?);
        if let Some(a) = &changed {
            log_event(
                &mut tx,
                (&a.pool_domain, &a.subdomain),
                event,
                actor,
                detail,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Runs `statement` (an update of `name`'s row) and, when it changed the row, logs `event`
    /// beside it in one transaction; whether it did.
    async fn update_logged<'q>(
        &self,
        statement: sqlx::query::Query<'q, sqlx::Sqlite, SqliteArguments<'q>>,
        (pool, sub): (&PoolDomain, &Subdomain),
        (event, detail): (&str, Option<&str>),
        actor: &Actor,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.write().await?;
        let changed = statement.execute(&mut *tx).await?.rows_affected() > 0;
        if changed {
            let key = (pool.as_str(), sub.as_str());
            log_event(&mut tx, key, event, actor, detail).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// One process serves an SQLite file, so nothing else migrates it meanwhile.
    async fn run_migrations(&self) -> Result<(), sqlx::migrate::MigrateError> {
        crate::SQLITE_MIGRATOR.run(&self.pool).await
    }
}

/// Appends one line to the audit trail, inside the change's transaction.
async fn log_event(
    tx: &mut SqliteConnection,
    (pool, sub): (&str, &str),
    event: &str,
    actor: &Actor,
    detail: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(include_str!("sql/sqlite/log_event.sql"))
        .bind(pool)
        .bind(sub)
        .bind(event)
        .bind(&actor.name)
        .bind(&actor.request_id)
        .bind(detail)
        .execute(tx)
        .await
        .map(drop)
}

async fn held_records(
    connection: &mut SqliteConnection,
    pool: &PoolDomain,
    except: Option<&Subdomain>,
    hosts: usize,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(include_str!("sql/sqlite/held_records.sql"))
        .bind(pool.as_str())
        .bind(except.map(Subdomain::as_str))
        .bind(as_i64(hosts))
        .fetch_one(connection)
        .await
}

/// Runs `sql` on one version of one row (`?1` pool, `?2` name, `?3` version): how many rows
/// it changed.
async fn rows_changed(
    tx: &mut SqliteConnection,
    sql: &'static str,
    (pool, sub, version): (&str, &str, i64),
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(sql)
        .bind(pool)
        .bind(sub)
        .bind(version)
        .execute(tx)
        .await?;
    Ok(done.rows_affected())
}

/// Inserts a reservation, or takes over a lapsed one, and logs which it was.
async fn reserve_logged(
    tx: &mut SqliteConnection,
    pool: &PoolDomain,
    sub: &Subdomain,
    terms: &ReserveTerms<'_>,
    actor: &Actor,
) -> Result<Option<Allocation>, sqlx::Error> {
    let made = unwrap(
        sqlx::query_as(include_str!("sql/sqlite/reserve.sql"))
            .bind(pool.as_str())
            .bind(sub.as_str())
            .bind(terms.ttl.as_secs_f64())
            .bind(Uuid::new_v4())
            .bind(terms.created_by)
            .bind(terms.refuse_foreign)
            .bind(actor.owner())
            .fetch_optional(&mut *tx)
            .await?,
    );
    if let Some(a) = &made {
        // A fresh row starts at version 0; a takeover bumped the lapsed row's.
        let event = if a.dns_version > 0 {
            "taken-over"
        } else {
            "reserved"
        };
        log_event(tx, (&a.pool_domain, &a.subdomain), event, actor, None).await?;
    }
    Ok(made)
}

/// `at` as SQLite's own timestamps are written (see the schema), so text order is time order.
fn as_sqlite_time(at: time::OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .unwrap_or_default()
}

/// A pool-wide audit event, in the transaction of the change it records.
async fn log_pool_event(
    tx: &mut SqliteConnection,
    pool: &PoolDomain,
    event: &str,
    actor: &Actor,
    detail: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(include_str!("sql/sqlite/pool_event.sql"))
        .bind(pool.as_str())
        .bind(event)
        .bind(&actor.name)
        .bind(&actor.request_id)
        .bind(detail)
        .execute(tx)
        .await
        .map(drop)
}

shared_queries!(SqliteStore, crate::SQLITE_MIGRATOR, sql = "sqlite");

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn schema_version(&self) -> Result<Option<i64>, sqlx::Error> {
        let exists: bool = sqlx::query_scalar(
            "select exists (select 1 from sqlite_master where name = '_sqlx_migrations')",
        )
        .fetch_one(&self.pool)
        .await?;
        if !exists {
            return Ok(None);
        }
        sqlx::query_scalar("select max(version) from _sqlx_migrations where success")
            .fetch_one(&self.pool)
            .await
    }

    async fn find(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
    ) -> Result<Option<Allocation>, sqlx::Error> {
        let found = sqlx::query_as(include_str!("sql/sqlite/find.sql"))
            .bind(pool.as_str())
            .bind(sub.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(unwrap(found))
    }

    async fn reserve(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        terms: &ReserveTerms<'_>,
        actor: &Actor,
    ) -> Result<Reservation, sqlx::Error> {
        let mut tx = self.write().await?;
        // The write lock is held: nobody can reserve between a count and the insert.
        if let Some((owner, limit)) = actor.quota() {
            let now = as_sqlite_time(time::OffsetDateTime::now_utc());
            let live: i64 = sqlx::query_scalar(include_str!("sql/live_owned.sql"))
                .bind(owner)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            if live >= i64::from(limit) {
                return Ok(Reservation::OverQuota { limit, live });
            }
        }
        if let Some((room, hosts)) = terms.room {
            // The write lock is already held: nobody can take a place between count and insert.
            let held = held_records(&mut tx, pool, Some(sub), hosts).await?;
            if i64::from(room.foreign_records) + held + as_i64(hosts) > i64::from(room.record_limit)
            {
                return Ok(Reservation::Full);
            }
        }
        let made = reserve_logged(&mut tx, pool, sub, terms, actor).await?;
        tx.commit().await?;
        Ok(made.map_or(Reservation::Held, |a| Reservation::Made(Box::new(a))))
    }

    async fn held_records(
        &self,
        pool: &PoolDomain,
        except: Option<&Subdomain>,
        hosts: usize,
    ) -> Result<i64, sqlx::Error> {
        let mut connection = self.pool.acquire().await?;
        held_records(&mut connection, pool, except, hosts).await
    }

    async fn activate(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        activation: &Activation<'_>,
        actor: &Actor,
    ) -> Result<Option<Allocation>, sqlx::Error> {
        let hosts = serde_json::to_string(activation.hosts).unwrap_or_else(|_| "[]".to_owned());
        let console_hosts = activation
            .console
            .map(|(_, hosts)| serde_json::to_string(hosts).unwrap_or_else(|_| "[]".to_owned()));
        let statement = sqlx::query_as(include_str!("sql/sqlite/activate.sql"))
            .bind(pool.as_str())
            .bind(sub.as_str())
            .bind(activation.token)
            .bind(activation.sovereign_fqdn)
            .bind(activation.load_balancer_ip)
            .bind(hosts)
            .bind(activation.lease.as_secs_f64())
            .bind(activation.refuse_foreign)
            .bind(activation.console.map(|(ip, _)| ip))
            .bind(console_hosts)
            .bind(actor.owner_required());
        let detail = Some(activation.load_balancer_ip);
        self.change_logged(statement, "committed", actor, detail)
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
        let mut tx = self.write().await?;
        let freed = sqlx::query_as(include_str!("sql/sqlite/release_reserved.sql"))
            .bind(pool.as_str())
            .bind(sub.as_str())
            .bind(token)
            .bind(actor.owner_required())
            .fetch_optional(&mut *tx)
            .await?;
        let released = match unwrap(freed) {
            Some(freed) => Some((Release::Freed(Box::new(freed)), "released")),
            None => unwrap(
                sqlx::query_as(include_str!("sql/sqlite/release_active.sql"))
                    .bind(pool.as_str())
                    .bind(sub.as_str())
                    .bind(token)
                    .bind(lease.as_secs_f64())
                    .bind(actor.owner_required())
                    .fetch_optional(&mut *tx)
                    .await?,
            )
            .map(|releasing| (Release::Releasing(Box::new(releasing)), "release-requested")),
        };
        if let Some((Release::Freed(a) | Release::Releasing(a), event)) = &released {
            let reason = actor.reason.as_deref();
            log_event(
                &mut tx,
                (&a.pool_domain, &a.subdomain),
                event,
                actor,
                reason,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(released.map(|(release, _)| release))
    }

    async fn settle(
        &self,
        pool: &PoolDomain,
        landed: &[Landed],
        actor: &Actor,
    ) -> Result<Vec<String>, sqlx::Error> {
        let mut tx = self.write().await?;
        let mut settled = Vec::new();
        for Landed {
            sub,
            version,
            detail,
        } in landed
        {
            let row = (pool.as_str(), sub.as_str(), *version);
            let released = rows_changed(
                &mut tx,
                "delete from pool_allocations
                 where pool_domain = ?1 and subdomain = ?2 and dns_version = ?3
                   and dns_state = 'pending' and releasing_since is not null",
                row,
            )
            .await?;
            let synced = rows_changed(
                &mut tx,
                "update pool_allocations
                 set dns_state = 'synced', dns_attempts = 0, dns_last_error = null,
                     dns_retry_at = null
                 where pool_domain = ?1 and subdomain = ?2 and dns_version = ?3
                   and dns_state = 'pending' and releasing_since is null",
                row,
            )
            .await?;
            let key = (pool.as_str(), sub.as_str());
            if released > 0 {
                log_event(&mut tx, key, "released", actor, detail.as_deref()).await?;
            } else if synced > 0 {
                log_event(&mut tx, key, "dns-synced", actor, detail.as_deref()).await?;
            }
            if released + synced > 0 {
                settled.push(sub.clone());
            }
        }
        tx.commit().await?;
        Ok(settled)
    }

    async fn defer(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        version: i64,
        error: &str,
        base: Duration,
        actor: &Actor,
    ) -> Result<(), sqlx::Error> {
        let statement = sqlx::query(include_str!("sql/sqlite/defer.sql"))
            .bind(pool.as_str())
            .bind(sub.as_str())
            .bind(version)
            .bind(error)
            .bind(base.as_secs_f64());
        let event = ("dns-failed", Some(error));
        self.update_logged(statement, (pool, sub), event, actor)
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
        let statement = sqlx::query(include_str!("sql/sqlite/refuse.sql"))
            .bind(pool.as_str())
            .bind(sub.as_str())
            .bind(version)
            .bind(ttl.as_secs_f64());
        let event = ("commit-refused", Some(why));
        self.update_logged(statement, (pool, sub), event, actor)
            .await
    }

    async fn lock_owed(
        &self,
        key: &str,
        pool: &PoolDomain,
        asked: Option<&Subdomain>,
        limit: i64,
    ) -> Result<(StoreLock, Vec<Allocation>), sqlx::Error> {
        let lock = self.lock(key).await?;
        let rows: Result<Vec<Stored>, _> = sqlx::query_as(include_str!("sql/sqlite/owed.sql"))
            .bind(pool.as_str())
            .bind(limit)
            .bind(asked.map(Subdomain::as_str))
            .fetch_all(&self.pool)
            .await;
        match rows {
            Ok(rows) => Ok((lock, rows.into_iter().map(|Stored(a)| a).collect())),
            Err(error) => {
                lock.release().await;
                Err(error)
            }
        }
    }

    async fn zones_owing(&self) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(include_str!("sql/sqlite/zones_owing.sql"))
            .fetch_all(&self.pool)
            .await
    }

    async fn republish(&self) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(include_str!("sql/sqlite/republish.sql"))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn pending(&self) -> Result<Vec<Allocation>, sqlx::Error> {
        let rows: Vec<Stored> = sqlx::query_as(include_str!("sql/sqlite/pending.sql"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|Stored(a)| a).collect())
    }

    async fn list_all(&self, pool: &PoolDomain) -> Result<Vec<Allocation>, sqlx::Error> {
        let rows: Vec<Stored> = sqlx::query_as(include_str!("sql/sqlite/list_all.sql"))
            .bind(pool.as_str())
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|Stored(a)| a).collect())
    }

    async fn list(
        &self,
        pool: &PoolDomain,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Vec<Allocation>, sqlx::Error> {
        let rows: Vec<Stored> = sqlx::query_as(include_str!("sql/sqlite/list.sql"))
            .bind(pool.as_str())
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|Stored(a)| a).collect())
    }

    async fn owned_names(&self, pool: &PoolDomain) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "select lower(host.value || '.' || subdomain)
             from pool_allocations, json_each(pool_allocations.dns_hosts) as host
             where pool_domain = ?1 and state = 'active'",
        )
        .bind(pool.as_str())
        .fetch_all(&self.pool)
        .await
    }

    async fn stale_zones(
        &self,
        pools: &[String],
        age: Duration,
    ) -> Result<Vec<String>, sqlx::Error> {
        let fresh: Vec<String> = sqlx::query_scalar(include_str!("sql/sqlite/stale_zones.sql"))
            .bind(age.as_secs_f64())
            .fetch_all(&self.pool)
            .await?;
        Ok(pools
            .iter()
            .filter(|pool| !fresh.contains(pool))
            .cloned()
            .collect())
    }

    async fn save_zone(&self, pool: &PoolDomain, seen: &ZoneSeen) -> Result<(), sqlx::Error> {
        let mut tx = self.write().await?;
        sqlx::query(include_str!("sql/sqlite/save_zone.sql"))
            .bind(pool.as_str())
            .bind(seen.record_limit)
            .bind(seen.foreign_records)
            .execute(&mut *tx)
            .await?;
        sqlx::query("delete from zone_foreign_records where pool_domain = ?1")
            .bind(pool.as_str())
            .execute(&mut *tx)
            .await?;
        for (label, record) in &seen.foreign_at_labels {
            sqlx::query(
                "insert into zone_foreign_records (pool_domain, label, name, record_type, value)
                 values (?1, ?2, ?3, ?4, ?5)
                 on conflict do nothing",
            )
            .bind(pool.as_str())
            .bind(label)
            .bind(&record.name)
            .bind(&record.record_type)
            .bind(&record.value)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    async fn lock(&self, key: &str) -> Result<StoreLock, sqlx::Error> {
        Ok(StoreLock::new(self.lock_of(key).lock_owned().await))
    }

    async fn create_credential(
        &self,
        name: &str,
        digest: &[u8],
        scopes: &str,
        (quota, expires_at): (Option<i32>, Option<time::OffsetDateTime>),
    ) -> Result<Option<StoredCredential>, sqlx::Error> {
        sqlx::query_as(
            "insert into api_credentials (name, digest, scopes, quota, expires_at, created_at)
             values (?1, ?2, ?3, ?4, ?5, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
             on conflict do nothing
             returning name, scopes, quota, expires_at, created_at, last_used_at",
        )
        .bind(name)
        .bind(digest)
        .bind(scopes)
        .bind(quota)
        .bind(expires_at.map(as_sqlite_time))
        .fetch_optional(&self.pool)
        .await
    }

    async fn live_credentials(&self) -> Result<Vec<LiveCredential>, sqlx::Error> {
        sqlx::query_as(
            "select name, digest, scopes, quota from api_credentials
             where expires_at is null or expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        )
        .fetch_all(&self.pool)
        .await
    }

    async fn touch_credential(&self, name: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "update api_credentials set last_used_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             where name = ?1",
        )
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
        let mut tx = self.write().await?;
        let frozen: Freeze = sqlx::query_as(include_str!("sql/sqlite/freeze.sql"))
            .bind(pool.as_str())
            .bind(reason)
            .bind(&actor.name)
            .fetch_one(&mut *tx)
            .await?;
        log_pool_event(&mut tx, pool, "frozen", actor, Some(reason)).await?;
        tx.commit().await?;
        Ok(frozen)
    }

    async fn unfreeze(&self, pool: &PoolDomain, actor: &Actor) -> Result<bool, sqlx::Error> {
        let mut tx = self.write().await?;
        let lifted = sqlx::query("delete from pool_freezes where pool_domain = ?1")
            .bind(pool.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if lifted > 0 {
            log_pool_event(&mut tx, pool, "unfrozen", actor, None).await?;
        }
        tx.commit().await?;
        Ok(lifted > 0)
    }

    async fn try_lock(&self, key: &str) -> Result<Option<StoreLock>, sqlx::Error> {
        Ok(self.lock_of(key).try_lock_owned().ok().map(StoreLock::new))
    }

    async fn delete_lapsed(&self, batch: i64) -> Result<u64, sqlx::Error> {
        let mut tx = self.write().await?;
        let deleted: Vec<(String, String)> =
            sqlx::query_as(include_str!("sql/sqlite/delete_lapsed.sql"))
                .bind(batch)
                .fetch_all(&mut *tx)
                .await?;
        let sweeper = Actor::job("sweeper");
        for (pool, sub) in &deleted {
            log_event(&mut tx, (pool, sub), "expired", &sweeper, None).await?;
        }
        tx.commit().await?;
        Ok(u64::try_from(deleted.len()).unwrap_or(u64::MAX))
    }
}

/// The zone's lock of this process: released when dropped.
#[async_trait::async_trait]
impl super::HeldLock for tokio::sync::OwnedMutexGuard<()> {
    async fn release(self: Box<Self>) {}
}
