//! The tables PDM decides from: `pool_allocations`, `pool_zones` and `allocation_events`,
//! behind one interface with two backends. PostgreSQL ([`postgres`]) is production's: any
//! number of replicas may share it. SQLite ([`sqlite`]) is the embedded default for first runs
//! and single-process use. Both pass the same conformance suite (`tests/api/store.rs`).

/// [`SharedQueries`] for a backend whose `pool` field is a sqlx pool and whose schema is
/// `$migrator`: the SQL both backends speak alike (sqlx binds `$N` on SQLite too), written
/// once; a statement that reads the clock is a file of each backend's own (`sql/$sql/`).
macro_rules! shared_queries {
    ($store:ty, $migrator:path, sql = $sql:literal) => {
        #[async_trait::async_trait]
        impl super::SharedQueries for $store {
            fn migrator(&self) -> &'static sqlx::migrate::Migrator {
                &$migrator
            }

            async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
                self.run_migrations().await
            }

            fn connections(&self) -> (u32, u32) {
                let size = self.pool.size();
                let idle = u32::try_from(self.pool.num_idle()).unwrap_or(size);
                (idle, size)
            }

            async fn ping(&self) -> Result<(), sqlx::Error> {
                sqlx::query("select 1").execute(&self.pool).await.map(drop)
            }

            async fn table_state(&self) -> Result<crate::metrics::TableState, sqlx::Error> {
                let rows: Vec<(String, String, i64)> =
                    sqlx::query_as(include_str!(concat!("sql/", $sql, "/table_state.sql")))
                .fetch_all(&self.pool)
                .await?;
                let pending = self.pending_count().await?;
                Ok(crate::metrics::TableState::from_counts(
                    rows,
                    pending,
                    self.connections(),
                ))
            }

            async fn pending_count(&self) -> Result<i64, sqlx::Error> {
                sqlx::query_scalar(
                    "select count(*) from pool_allocations where dns_state = 'pending'",
                )
                .fetch_one(&self.pool)
                .await
            }

            async fn zone_room(
                &self,
                pool: &PoolDomain,
            ) -> Result<Option<ZoneRoom>, sqlx::Error> {
                let row: Option<(Option<i32>, i32)> = sqlx::query_as(
                    "select record_limit, foreign_records from pool_zones where pool_domain = $1",
                )
                .bind(pool.as_str())
                .fetch_optional(&self.pool)
                .await?;
                // No limit: the provider has none, so there is no room to keep.
                Ok(row.and_then(|(limit, foreign_records)| {
                    limit.map(|record_limit| ZoneRoom {
                        record_limit,
                        foreign_records,
                    })
                }))
            }

            async fn credentials(&self) -> Result<Vec<super::StoredCredential>, sqlx::Error> {
                sqlx::query_as(
                    "select name, scopes, quota, expires_at, created_at, last_used_at
                     from api_credentials order by name",
                )
                .fetch_all(&self.pool)
                .await
            }

            async fn revoke_credential(&self, name: &str) -> Result<bool, sqlx::Error> {
                let deleted = sqlx::query("delete from api_credentials where name = $1")
                    .bind(name)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(deleted > 0)
            }

            async fn freeze_of(
                &self,
                pool: &PoolDomain,
            ) -> Result<Option<super::Freeze>, sqlx::Error> {
                sqlx::query_as(
                    "select pool_domain, reason, frozen_by, frozen_at from pool_freezes
                     where pool_domain = $1",
                )
                .bind(pool.as_str())
                .fetch_optional(&self.pool)
                .await
            }

            async fn check_name(
                &self,
                pool: &PoolDomain,
                sub: &Subdomain,
                hosts: usize,
            ) -> Result<super::NameSeen, sqlx::Error> {
                let row: super::CheckRow =
                    sqlx::query_as(include_str!(concat!("sql/", $sql, "/check_name.sql")))
                        .bind(pool.as_str())
                        .bind(sub.as_str())
                        .bind(super::as_i64(hosts))
                        .fetch_one(&self.pool)
                        .await?;
                super::NameSeen::from_row(row)
            }

            async fn foreign_records_at(
                &self,
                pool: &PoolDomain,
                label: &Subdomain,
            ) -> Result<Vec<crate::dns::ZoneRecord>, sqlx::Error> {
                sqlx::query_as(
                    "select name, record_type, value from zone_foreign_records
                     where pool_domain = $1 and label = $2
                     order by name, record_type, value",
                )
                .bind(pool.as_str())
                .bind(label.as_str())
                .fetch_all(&self.pool)
                .await
            }

            async fn note_foreign_records(
                &self,
                pool: &PoolDomain,
                label: &Subdomain,
                records: &[crate::dns::ZoneRecord],
            ) -> Result<(), sqlx::Error> {
                for record in records {
                    sqlx::query(
                        "insert into zone_foreign_records
                             (pool_domain, label, name, record_type, value)
                         values ($1, $2, $3, $4, $5)
                         on conflict do nothing",
                    )
                    .bind(pool.as_str())
                    .bind(label.as_str())
                    .bind(&record.name)
                    .bind(&record.record_type)
                    .bind(&record.value)
                    .execute(&self.pool)
                    .await?;
                }
                Ok(())
            }

            async fn history(
                &self,
                pool: &PoolDomain,
                sub: &Subdomain,
                limit: i64,
            ) -> Result<Vec<Event>, sqlx::Error> {
                sqlx::query_as(
                    "select event, actor, request_id, detail, at from (
                         select id, event, actor, request_id, detail, at from allocation_events
                         where pool_domain = $1 and subdomain = $2
                         order by id desc
                         limit $3) as latest
                     order by id",
                )
                .bind(pool.as_str())
                .bind(sub.as_str())
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
        }
    };
}

mod connections;
pub mod postgres;
pub mod sqlite;

use std::time::Duration;

use sqlx::migrate::Migrator;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::dns::ZoneRecord;
use crate::domain::{PoolDomain, Subdomain};

pub use connections::Connections;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Where an allocation is in its life: reserved (with a deadline), then active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, serde::Serialize)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum State {
    Reserved,
    Active,
}

/// Whether DNS holds what the row says it should.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, serde::Serialize)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum DnsState {
    Pending,
    Synced,
}

/// One row of `pool_allocations`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Allocation {
    pub pool_domain: String,
    pub subdomain: String,
    pub state: State,
    pub reserved_at: OffsetDateTime,
    /// Set while reserved, `None` once active.
    pub expires_at: Option<OffsetDateTime>,
    pub sovereign_fqdn: Option<String>,
    pub load_balancer_ip: Option<String>,
    pub reservation_token: Uuid,
    pub created_by: String,
    /// A reservation past its deadline: it holds nothing and may be taken over or swept.
    pub lapsed: bool,
    pub dns_state: DnsState,
    pub dns_version: i64,
    /// Failed attempts at the owed change; 0 once DNS holds it.
    pub dns_attempts: i32,
    /// When the owed change is tried again; `None` once DNS holds it.
    pub dns_retry_at: Option<OffsetDateTime>,
    /// Hosts written at commit.
    pub dns_hosts: Option<Vec<String>>,
    /// Set once release was asked for; the row goes when its records are gone.
    pub releasing_since: Option<OffsetDateTime>,
    /// The credential that reserved it; `None` when PDM was open.
    pub owner: Option<String>,
    /// Why the owed change failed last, classified by PDM (never the provider's text).
    pub dns_last_error: Option<String>,
    /// The isolated console gateway's address, when the commit gave one.
    pub console_load_balancer_ip: Option<String>,
    /// Hosts written at `console_load_balancer_ip`, as they were at commit.
    pub console_hosts: Option<Vec<String>>,
}

/// Who asked for a change, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The bearer token's name, `createdBy`, or a job (`sweeper`, `reconciler`).
    pub name: String,
    pub request_id: Option<String>,
    /// Why, when the caller must say (an operator's force-release): the detail of the
    /// release's event.
    pub reason: Option<String>,
    /// The credential behind the request, when PDM has credentials: it owns what it
    /// reserves, and without `operate` may change only that.
    pub caller: Option<crate::scope::Caller>,
}

impl Actor {
    /// A background job, with no request behind it.
    pub fn job(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            request_id: None,
            reason: None,
            caller: None,
        }
    }

    /// The credential that owns what this actor reserves.
    pub fn owner(&self) -> Option<&str> {
        self.caller.as_ref().map(|caller| caller.name.as_str())
    }

    /// The credential's name and the quota of live allocations it may hold, when it has one.
    pub fn quota(&self) -> Option<(&str, u32)> {
        let caller = self.caller.as_ref()?;
        Some((caller.name.as_str(), caller.quota?))
    }

    /// The owner an allocation must have for this actor to change it (`None`: any).
    pub fn owner_required(&self) -> Option<&str> {
        self.caller
            .as_ref()
            .and_then(crate::scope::Caller::owner_required)
    }

    /// The same caller, saying why.
    pub fn because(self, reason: &str) -> Self {
        Self {
            reason: Some(reason.to_owned()),
            ..self
        }
    }
}

/// One line of an allocation's history.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Event {
    pub event: String,
    pub actor: String,
    pub request_id: Option<String>,
    pub detail: Option<String>,
    pub at: OffsetDateTime,
}

/// The values a commit writes.
#[derive(Debug, Clone)]
pub struct Activation<'a> {
    pub token: Option<Uuid>,
    pub sovereign_fqdn: &'a str,
    pub load_balancer_ip: &'a str,
    pub hosts: &'a [String],
    /// The console gateway's address and the hosts that point at it, when given.
    pub console: Option<(&'a str, &'a [String])>,
    /// How long the committing request has before the reconciler may retry its DNS change.
    pub lease: Duration,
    /// Refuse while records PDM did not write stand at the sovereign's names, as last seen.
    pub refuse_foreign: bool,
}

/// A change DNS now holds: `version` of `sub`'s row, and what its event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landed {
    pub sub: String,
    pub version: i64,
    pub detail: Option<String>,
}

/// What a reservation is made on.
#[derive(Debug, Clone)]
pub struct ReserveTerms<'a> {
    pub ttl: Duration,
    pub created_by: &'a str,
    /// With a zone's room and the records a sovereign takes, the room is checked and the name
    /// reserved atomically, so two racers cannot both take the last place.
    pub room: Option<(ZoneRoom, usize)>,
    /// Refuse (as held) while records PDM did not write stand at the sovereign's names, as
    /// last seen, in the same statement as the reservation.
    pub refuse_foreign: bool,
}

/// What a zone with a record limit can still take, as last measured.
/// What a read of a zone showed PDM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSeen {
    /// `None` when the provider has no per-zone limit.
    pub record_limit: Option<i32>,
    /// Records no allocation owns.
    pub foreign_records: i32,
    /// Those of them at or under a sovereign label, with the label they keep taken.
    pub foreign_at_labels: Vec<(String, ZoneRecord)>,
}

/// A credential held in the database, as its list shows it: never its secret or digest.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredCredential {
    pub name: String,
    /// `read+allocate`, as `PDM_API_SCOPES` writes them.
    pub scopes: String,
    pub quota: Option<i32>,
    pub expires_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

/// A live credential as authentication needs it: name, SHA-256 digest, scopes, quota.
pub type LiveCredential = (String, Vec<u8>, String, Option<i32>);

/// A pool's freeze: no reservation is taken under it until an operator lifts it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Freeze {
    pub pool_domain: String,
    pub reason: String,
    pub frozen_by: String,
    pub frozen_at: OffsetDateTime,
}

/// A name as check sees it, read in one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameSeen {
    /// The row's state, when there is a row.
    pub state: Option<State>,
    /// A reservation whose deadline passed: the name counts as free.
    pub lapsed: bool,
    /// An allocation whose records are still being removed.
    pub releasing: bool,
    /// Whether PDM has read the zone yet (its room and foreign records are known).
    pub zone_seen: bool,
    /// The zone's room, when its provider has a record limit.
    pub room: Option<ZoneRoom>,
    /// Records the pool's other live allocations hold; read only while the name is free and
    /// the zone has a limit.
    pub held: Option<i64>,
    /// Records PDM did not write at the name's host names (while the name is free).
    pub foreign: Vec<ZoneRecord>,
    /// The pool is frozen: no reservation is taken under it.
    pub frozen: bool,
}

/// `state, lapsed, releasing, zone_seen, record_limit, foreign_records, held,
/// foreign_at_name (JSON)`.
type CheckRow = (
    Option<State>,
    bool,
    bool,
    bool,
    Option<i32>,
    Option<i32>,
    Option<i64>,
    String,
    bool,
);

impl NameSeen {
    fn from_row(
        (state, lapsed, releasing, zone_seen, record_limit, foreign_records, held, foreign, frozen): CheckRow,
    ) -> Result<Self, sqlx::Error> {
        let foreign = serde_json::from_str(&foreign).map_err(|e| sqlx::Error::ColumnDecode {
            index: "foreign_at_name".to_owned(),
            source: e.into(),
        })?;
        Ok(Self {
            state,
            lapsed,
            releasing,
            zone_seen,
            room: record_limit.map(|record_limit| ZoneRoom {
                record_limit,
                foreign_records: foreign_records.unwrap_or_default(),
            }),
            held,
            foreign,
            frozen,
        })
    }
}

impl ZoneSeen {
    /// The zone's room, when it has a limit.
    pub fn room(&self) -> Option<ZoneRoom> {
        self.record_limit.map(|record_limit| ZoneRoom {
            record_limit,
            foreign_records: self.foreign_records,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneRoom {
    pub record_limit: i32,
    pub foreign_records: i32,
}

/// The outcome of a reservation attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Reservation {
    Made(Box<Allocation>),
    /// The name is held by a live reservation or is active.
    Held,
    /// The zone cannot take another sovereign's records.
    Full,
    /// The credential holds as many live allocations as its quota allows.
    OverQuota {
        limit: u32,
        live: i64,
    },
}

/// What a release did.
#[derive(Debug, Clone, PartialEq)]
pub enum Release {
    /// A reservation, deleted: the name is free.
    Freed(Box<Allocation>),
    /// An allocation, now releasing: free once its records are gone.
    Releasing(Box<Allocation>),
}

/// Held while a change that must not overlap with others of the same key runs.
/// [`StoreLock::release`] lets the next one in; so does dropping it (a cancelled holder), on
/// PostgreSQL by closing the holder's connection.
pub struct StoreLock(Box<dyn HeldLock>);

impl StoreLock {
    pub fn new(held: impl HeldLock + 'static) -> Self {
        Self(Box::new(held))
    }

    pub async fn release(self) {
        self.0.release().await;
    }
}

/// A backend's held lock.
#[async_trait::async_trait]
pub trait HeldLock: Send {
    async fn release(self: Box<Self>);
}

/// Reads whose SQL is the same on every backend (see `shared_queries!`).
#[async_trait::async_trait]
pub trait SharedQueries: Send + Sync {
    /// The schema this backend's build expects.
    fn migrator(&self) -> &'static Migrator;
    /// Applies the backend's migrations; safe when several processes start at once.
    async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError>;
    /// The connection pool's (idle, open) connections.
    fn connections(&self) -> (u32, u32);
    /// Answers when the database does.
    async fn ping(&self) -> Result<(), sqlx::Error>;
    /// Live allocations by pool and state, rows owed to DNS, and connection pool use.
    async fn table_state(&self) -> Result<crate::metrics::TableState, sqlx::Error>;
    /// How many rows owe DNS a change.
    async fn pending_count(&self) -> Result<i64, sqlx::Error>;
    /// The zone's room as last measured.
    async fn zone_room(&self, pool: &PoolDomain) -> Result<Option<ZoneRoom>, sqlx::Error>;
    /// The pool's freeze, when it is frozen.
    async fn freeze_of(&self, pool: &PoolDomain) -> Result<Option<Freeze>, sqlx::Error>;
    /// Every stored credential, by name.
    async fn credentials(&self) -> Result<Vec<StoredCredential>, sqlx::Error>;
    /// Deletes the credential; whether there was one.
    async fn revoke_credential(&self, name: &str) -> Result<bool, sqlx::Error>;
    /// All that check needs to know of a name, in one statement.
    async fn check_name(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        hosts: usize,
    ) -> Result<NameSeen, sqlx::Error>;
    /// Records PDM did not write at `label`'s host names, as last seen.
    async fn foreign_records_at(
        &self,
        pool: &PoolDomain,
        label: &Subdomain,
    ) -> Result<Vec<ZoneRecord>, sqlx::Error>;
    /// Adds records found in the way of a change to what is known of the zone.
    async fn note_foreign_records(
        &self,
        pool: &PoolDomain,
        label: &Subdomain,
        records: &[ZoneRecord],
    ) -> Result<(), sqlx::Error>;
    /// The allocation's history, oldest first, at most the latest `limit` events.
    async fn history(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        limit: i64,
    ) -> Result<Vec<Event>, sqlx::Error>;
}

/// Every read and state change of the allocation state machine. Each change is atomic and
/// decides races by itself, so callers never need a transaction of their own.
#[async_trait::async_trait]
pub trait Store: SharedQueries {
    /// The newest migration applied, if the schema exists.
    async fn schema_version(&self) -> Result<Option<i64>, sqlx::Error>;

    /// Whether a write would be taken now: not while a standby or a read-only default (a
    /// failover in progress) refuses it.
    async fn accepts_writes(&self) -> Result<bool, sqlx::Error> {
        Ok(true)
    }

    async fn find(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
    ) -> Result<Option<Allocation>, sqlx::Error>;
    /// Reserves the name, or takes over a lapsed reservation of it, on `terms`.
    async fn reserve(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        terms: &ReserveTerms<'_>,
        actor: &Actor,
    ) -> Result<Reservation, sqlx::Error>;
    /// Records the pool's live allocations hold (or will once published), besides `except`.
    async fn held_records(
        &self,
        pool: &PoolDomain,
        except: Option<&Subdomain>,
        hosts: usize,
    ) -> Result<i64, sqlx::Error>;
    /// Flips a live reservation holding the token to active, owing its records to DNS.
    /// `None` when there is no such reservation (or, with `refuse_foreign`, records PDM did
    /// not write stand at its names); [`Store::find`] then tells why.
    async fn activate(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        activation: &Activation<'_>,
        actor: &Actor,
    ) -> Result<Option<Allocation>, sqlx::Error>;
    /// Frees the name (holding `token`, when one is given): a reservation is deleted at once;
    /// an active allocation is marked releasing, its records owed to removal, and the
    /// releasing request has `lease` before the reconciler may retry. `None` when neither
    /// applies.
    async fn release(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        token: Option<Uuid>,
        lease: Duration,
        actor: &Actor,
    ) -> Result<Option<Release>, sqlx::Error>;
    /// DNS now holds what each of `landed` asked for: mark its row synced, or delete it when
    /// that was a release; in one go for a whole batch. The names it did that for: a row
    /// changed since (a newer version) stays pending, and one settled already stays as it is.
    async fn settle(
        &self,
        pool: &PoolDomain,
        landed: &[Landed],
        actor: &Actor,
    ) -> Result<Vec<String>, sqlx::Error>;
    /// Puts an active allocation whose `version` the zone refused for good back to its
    /// reservation (token kept, expiry `reserved_at + ttl`), owing DNS nothing, with the
    /// refusal in its history. Whether it did (another change may have replaced it).
    async fn refuse(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        version: i64,
        ttl: Duration,
        why: &str,
        actor: &Actor,
    ) -> Result<bool, sqlx::Error>;
    /// Records a failed DNS change and when to retry it: `base`, doubling per attempt, at
    /// most five minutes.
    async fn defer(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        version: i64,
        error: &str,
        base: Duration,
        actor: &Actor,
    ) -> Result<(), sqlx::Error>;
    /// Takes the zone's lock (`key`, as [`Store::lock`]), then reads what the pool's zone owes
    /// DNS, as it stands once the lock is held: at most `limit` changes, fresh ones (their
    /// requests may be applying them; applying twice is harmless), retries that are due, and
    /// `asked`'s, which a request wants tried now even while it backs off.
    async fn lock_owed(
        &self,
        key: &str,
        pool: &PoolDomain,
        asked: Option<&Subdomain>,
        limit: i64,
    ) -> Result<(StoreLock, Vec<Allocation>), sqlx::Error>;
    /// Pools with a DNS change that is due.
    async fn zones_owing(&self) -> Result<Vec<String>, sqlx::Error>;
    /// Rows whose DNS change is owed, soonest first.
    async fn pending(&self) -> Result<Vec<Allocation>, sqlx::Error>;
    /// Marks every committed allocation's records as owed again, so that the writer
    /// publishes them as the provider is now configured (after `PDNS_DELEGATION` changed);
    /// how many.
    async fn republish(&self) -> Result<u64, sqlx::Error>;
    /// Every row of the pool, lapsed or releasing included.
    async fn list_all(&self, pool: &PoolDomain) -> Result<Vec<Allocation>, sqlx::Error>;
    /// Live allocations of the pool after `after`, by subdomain, at most `limit` (all when
    /// `None`). Keyset, not offset, so every page costs the same.
    async fn list(
        &self,
        pool: &PoolDomain,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Vec<Allocation>, sqlx::Error>;
    /// Names PDM's records stand at in the pool: `host.sub` of every active allocation.
    async fn owned_names(&self, pool: &PoolDomain) -> Result<Vec<String>, sqlx::Error>;
    /// Pools whose room was measured longer than `age` ago, or never.
    async fn stale_zones(
        &self,
        pools: &[String],
        age: Duration,
    ) -> Result<Vec<String>, sqlx::Error>;
    /// Saves what a whole read of the zone showed, at once: its room and the foreign records
    /// at sovereigns' host names, replacing what was seen before.
    async fn save_zone(&self, pool: &PoolDomain, seen: &ZoneSeen) -> Result<(), sqlx::Error>;
    /// Stores a credential by its secret's `digest`; `None` when the name (or the digest) is
    /// taken.
    async fn create_credential(
        &self,
        name: &str,
        digest: &[u8],
        scopes: &str,
        (quota, expires_at): (Option<i32>, Option<OffsetDateTime>),
    ) -> Result<Option<StoredCredential>, sqlx::Error>;
    /// The credentials that have not expired, for authentication.
    async fn live_credentials(&self) -> Result<Vec<LiveCredential>, sqlx::Error>;
    /// Records that the credential was used now.
    async fn touch_credential(&self, name: &str) -> Result<(), sqlx::Error>;
    /// Freezes the pool (a repeated freeze says why anew), with its audit event.
    async fn freeze(
        &self,
        pool: &PoolDomain,
        reason: &str,
        actor: &Actor,
    ) -> Result<Freeze, sqlx::Error>;
    /// Lifts the pool's freeze, with its audit event; whether there was one.
    async fn unfreeze(&self, pool: &PoolDomain, actor: &Actor) -> Result<bool, sqlx::Error>;
    /// A lock named `key` that every process sharing the database respects.
    async fn lock(&self, key: &str) -> Result<StoreLock, sqlx::Error>;
    /// The same lock when it is free now; `None`, at once, while someone holds it.
    async fn try_lock(&self, key: &str) -> Result<Option<StoreLock>, sqlx::Error>;
    /// Deletes up to `batch` lapsed reservations without making a request wait; returns how
    /// many.
    async fn delete_lapsed(&self, batch: i64) -> Result<u64, sqlx::Error>;
}

fn as_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
