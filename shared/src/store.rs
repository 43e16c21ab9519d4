//! The `pool_allocations` table. Every state change is one SQL statement, so PostgreSQL picks
//! the winner of any race, across however many replicas share the database. Time is the
//! database's `now()`, so replicas with skewed clocks still agree on what has expired.

use std::time::Duration;

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{PoolDomain, Subdomain};

/// Where an allocation is in its life: reserved (with a deadline), then active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, serde::Serialize)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum State {
    Reserved,
    Active,
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
}

/// The columns of [`Allocation`], `lapsed` computed by the database's clock.
macro_rules! allocation_columns {
    () => {
        "pool_domain, subdomain, state, reserved_at, expires_at, sovereign_fqdn, \
         load_balancer_ip, reservation_token, created_by, \
         (state = 'reserved' and expires_at <= now()) as lapsed"
    };
}

/// The values a commit writes.
#[derive(Debug, Clone)]
pub struct Activation<'a> {
    pub token: Option<Uuid>,
    pub sovereign_fqdn: &'a str,
    pub load_balancer_ip: &'a str,
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("select 1").execute(&self.pool).await.map(drop)
    }

    pub async fn find(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
    ) -> Result<Option<Allocation>, sqlx::Error> {
        // language=PostgreSQL
        sqlx::query_as(concat!(
            "select ",
            allocation_columns!(),
            " from pool_allocations where pool_domain = $1 and subdomain = $2"
        ))
        .bind(pool.as_str())
        .bind(sub.as_str())
        .fetch_optional(&self.pool)
        .await
    }

    /// Reserves the name, or takes over a lapsed reservation of it, in one statement.
    /// `None` when the name is held by a live reservation or is active.
    pub async fn reserve(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        ttl: Duration,
        created_by: &str,
    ) -> Result<Option<Allocation>, sqlx::Error> {
        // Concurrent inserts of one key serialize on the primary key; the loser re-checks the
        // `where` against the winner's row, finds a live reservation and returns nothing.
        // language=PostgreSQL
        sqlx::query_as(concat!(
            "insert into pool_allocations as held
                 (pool_domain, subdomain, state, reserved_at, expires_at, reservation_token, created_by)
             values ($1, $2, 'reserved', now(), now() + $3, $4, $5)
             on conflict (pool_domain, subdomain) do update
             set state = 'reserved',
                 reserved_at = excluded.reserved_at,
                 expires_at = excluded.expires_at,
                 sovereign_fqdn = null,
                 load_balancer_ip = null,
                 reservation_token = excluded.reservation_token,
                 created_by = excluded.created_by
             where held.state = 'reserved' and held.expires_at <= now()
             returning ",
            allocation_columns!()
        ))
        .bind(pool.as_str())
        .bind(sub.as_str())
        .bind(ttl)
        .bind(Uuid::new_v4())
        .bind(created_by)
        .fetch_optional(&self.pool)
        .await
    }

    /// Flips a live reservation holding `token` to active. `None` when there is no such
    /// reservation; [`Store::find`] then tells why.
    pub async fn activate(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        activation: &Activation<'_>,
    ) -> Result<Option<Allocation>, sqlx::Error> {
        // language=PostgreSQL
        sqlx::query_as(concat!(
            "update pool_allocations
             set state = 'active', expires_at = null, sovereign_fqdn = $4, load_balancer_ip = $5
             where pool_domain = $1 and subdomain = $2
               and state = 'reserved' and reservation_token = $3 and expires_at > now()
             returning ",
            allocation_columns!()
        ))
        .bind(pool.as_str())
        .bind(sub.as_str())
        .bind(activation.token)
        .bind(activation.sovereign_fqdn)
        .bind(activation.load_balancer_ip)
        .fetch_optional(&self.pool)
        .await
    }

    /// Deletes the row, returning what it held.
    pub async fn delete(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
    ) -> Result<Option<Allocation>, sqlx::Error> {
        // language=PostgreSQL
        sqlx::query_as(concat!(
            "delete from pool_allocations where pool_domain = $1 and subdomain = $2 returning ",
            allocation_columns!()
        ))
        .bind(pool.as_str())
        .bind(sub.as_str())
        .fetch_optional(&self.pool)
        .await
    }

    /// Live allocations of the pool after `after`, by subdomain, at most `limit` (all when
    /// `None`). Keyset, not offset, so every page costs the same.
    pub async fn list(
        &self,
        pool: &PoolDomain,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Vec<Allocation>, sqlx::Error> {
        // language=PostgreSQL
        sqlx::query_as(concat!(
            "select ",
            allocation_columns!(),
            " from pool_allocations
             where pool_domain = $1 and subdomain > coalesce($2, '')
               and not (state = 'reserved' and expires_at <= now())
             order by subdomain
             limit $3"
        ))
        .bind(pool.as_str())
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// Deletes up to `batch` lapsed reservations, skipping rows another transaction holds (a
    /// reserve taking one over), so the sweeper never makes a request wait. Returns how many.
    pub async fn delete_lapsed(&self, batch: i64) -> Result<u64, sqlx::Error> {
        // language=PostgreSQL
        let deleted = sqlx::query(
            "delete from pool_allocations
             where (pool_domain, subdomain) in (
                 select pool_domain, subdomain from pool_allocations
                 where state = 'reserved' and expires_at <= now()
                 order by expires_at
                 limit $1
                 for update skip locked)",
        )
        .bind(batch)
        .execute(&self.pool)
        .await?;
        Ok(deleted.rows_affected())
    }
}
