//! PostgreSQL connections for the store, pooled by deadpool rather than sqlx: sqlx's pool pings
//! every connection it takes back, which doubles the round trips of a one-statement request.
//! Here a connection goes back as it is, unless the work on it did not finish (cancelled, the
//! connection failed, the server ended the session): then it is closed, so nothing half-done
//! (unread results, an open transaction, a held lock) reaches the next caller, and PostgreSQL
//! ends what was left.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool::managed::{self, Metrics, Object, PoolError, RecycleResult};
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use sqlx::postgres::{PgConnectOptions, PgDatabaseError, PgQueryResult, PgRow, PgSeverity};
use sqlx::{Connection, Either, Execute, Executor, PgConnection, Postgres};

/// How long a connection may sit unused before it is closed, as sqlx's pool does: a burst's
/// extra connections do not stay open on the server for good.
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// A connection unused this long is pinged before it is lent again, so that after a quiet
/// spell (a frozen Lambda, a restarted PostgreSQL) a request gets a working connection rather
/// than the error of a dead one. Busy connections skip it: one round trip per statement.
const PING_AFTER_IDLE: Duration = Duration::from_secs(30);

/// Connects on demand, up to a maximum; [`Executor`] for one statement on any of them.
#[derive(Clone)]
pub struct Connections {
    pool: managed::Pool<Connector>,
    idle_timeout: Duration,
    /// When idle connections were last looked for.
    reaped_at: Arc<Mutex<Instant>>,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The options are left out: they hold the password.
        f.debug_struct("Connections")
            .field("status", &self.pool.status())
            .finish()
    }
}

struct Connector {
    options: PgConnectOptions,
    ping_after_idle: Duration,
}

impl managed::Manager for Connector {
    type Type = PgConnection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<PgConnection, sqlx::Error> {
        PgConnection::connect_with(&self.options).await
    }

    /// A connection comes back only after its work finished, so it is ready as it is; one
    /// that sat unused for a while is asked first whether the server is still there. A dead
    /// one is dropped and the caller gets another.
    async fn recycle(
        &self,
        conn: &mut PgConnection,
        metrics: &Metrics,
    ) -> RecycleResult<sqlx::Error> {
        if metrics.last_used() >= self.ping_after_idle {
            conn.ping().await?;
        }
        Ok(())
    }
}

impl Connections {
    /// `wait` bounds both waiting for a free connection and opening a new one.
    pub fn new(options: PgConnectOptions, max_connections: u32, wait: Duration) -> Self {
        Self::with_timeouts(
            options,
            max_connections,
            wait,
            IDLE_TIMEOUT,
            PING_AFTER_IDLE,
        )
    }

    /// As [`Connections::new`], closing connections unused for `idle_timeout` and pinging
    /// those unused for `ping_after_idle` before lending them (tests shorten both).
    pub fn with_timeouts(
        options: PgConnectOptions,
        max_connections: u32,
        wait: Duration,
        idle_timeout: Duration,
        ping_after_idle: Duration,
    ) -> Self {
        let connector = Connector {
            options,
            ping_after_idle,
        };
        let pool = managed::Pool::builder(connector)
            .max_size(usize::try_from(max_connections).unwrap_or(usize::MAX))
            .wait_timeout(Some(wait))
            .create_timeout(Some(wait))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            // Only a timeout without a runtime fails to build, and the runtime is set.
            .expect("a pool with a runtime builds");
        Self {
            pool,
            idle_timeout,
            reaped_at: Arc::new(Mutex::new(Instant::now())),
        }
    }

    pub async fn acquire(&self) -> Result<Conn, sqlx::Error> {
        self.close_idle();
        let object = self.pool.get().await.map_err(|error| match error {
            PoolError::Backend(error) => error,
            PoolError::Closed => sqlx::Error::PoolClosed,
            PoolError::Timeout(_)
            | PoolError::NoRuntimeSpecified
            | PoolError::PostCreateHook(_) => sqlx::Error::PoolTimedOut,
        })?;
        Ok(Conn {
            object: Some(object),
            finished: false,
        })
    }

    /// Checked as connections are asked for, a tenth of the idle timeout apart, so no task is
    /// needed; a process that asks for none keeps its idle connections until it next does.
    fn close_idle(&self) {
        let Ok(mut reaped_at) = self.reaped_at.try_lock() else {
            return; // another caller is at it
        };
        if reaped_at.elapsed() < self.idle_timeout / 10 {
            return;
        }
        *reaped_at = Instant::now();
        drop(reaped_at);
        self.pool
            .retain(|_, metrics| metrics.last_used() < self.idle_timeout);
    }

    /// Connections open.
    pub fn size(&self) -> u32 {
        u32::try_from(self.pool.status().size).unwrap_or(u32::MAX)
    }

    /// Connections open and free.
    pub fn num_idle(&self) -> usize {
        self.pool.status().available
    }
}

/// A connection lent out. It goes back to the pool only when [`Conn::done`] saw its work
/// finish; dropped otherwise, it is closed.
pub struct Conn {
    object: Option<Object<Connector>>,
    finished: bool,
}

impl Conn {
    /// Marks the one statement run on this connection finished unless `result` says the
    /// connection failed, and passes `result` on. Work that left a transaction or a lock open
    /// must not call this on failure, so that the connection is closed.
    pub fn done<T>(mut self, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        self.finished = match &result {
            Ok(_) | Err(sqlx::Error::RowNotFound) => true,
            // The statement ran to its end and the session goes on, unless the server ended
            // it (FATAL: terminated, shutting down).
            Err(sqlx::Error::Database(error)) => error
                .try_downcast_ref::<PgDatabaseError>()
                .is_none_or(|error| {
                    !matches!(error.severity(), PgSeverity::Fatal | PgSeverity::Panic)
                }),
            Err(_) => false,
        };
        result
    }
}

impl Deref for Conn {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        self.object.as_ref().expect("present until dropped")
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.object.as_mut().expect("present until dropped")
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let (Some(object), false) = (self.object.take(), self.finished) {
            // Out of the pool and closed: PostgreSQL rolls back and unlocks what it held.
            drop(Object::take(object));
        }
    }
}

/// One statement on a pooled connection, as sqlx's `&PgPool` does. The rows are read in full
/// before the connection goes back; every caller reads them in full anyway.
impl<'p> Executor<'p> for &'_ Connections {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Postgres>,
    {
        let connections = self.clone();
        stream::once(async move {
            let mut conn = connections.acquire().await?;
            let results = (&mut *conn).fetch_many(query).try_collect::<Vec<_>>().await;
            conn.done(results)
        })
        .map_ok(|results| stream::iter(results.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Postgres>,
    {
        let connections = self.clone();
        Box::pin(async move {
            let mut conn = connections.acquire().await?;
            let row = (&mut *conn).fetch_optional(query).await;
            conn.done(row)
        })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [sqlx::postgres::PgTypeInfo],
    ) -> BoxFuture<'e, Result<sqlx::postgres::PgStatement<'q>, sqlx::Error>> {
        let connections = self.clone();
        Box::pin(async move {
            let mut conn = connections.acquire().await?;
            let statement = (&mut *conn).prepare_with(sql, parameters).await;
            conn.done(statement)
        })
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<sqlx::Describe<Postgres>, sqlx::Error>> {
        let connections = self.clone();
        Box::pin(async move {
            let mut conn = connections.acquire().await?;
            let described = (&mut *conn).describe(sql).await;
            conn.done(described)
        })
    }
}
