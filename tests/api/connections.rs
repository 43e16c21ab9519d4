//! The PostgreSQL store's connection pool: a connection whose statement finished is used again
//! as it is (no ping), and one whose work did not finish is closed, so that what it left open
//! (a running statement, a held lock) ends with it.

use std::time::Duration;

use pdm_core::store::{Connections, PgStore, Store, StoreLock};
use sqlx::PgPool;

/// Generous: these tests wait for PostgreSQL to notice a closed connection, not for a deadline.
const PATIENCE: Duration = Duration::from_secs(30);

fn one_connection(db: &PgPool) -> Connections {
    Connections::new((*db.connect_options()).clone(), 1, PATIENCE)
}

/// One connection, closed after `idle_timeout` unused, pinged after `ping_after_idle`.
fn one_connection_idling(
    db: &PgPool,
    idle_timeout: Duration,
    ping_after_idle: Duration,
) -> Connections {
    let options = (*db.connect_options()).clone();
    Connections::with_timeouts(options, 1, PATIENCE, idle_timeout, ping_after_idle)
}

async fn backend_pid(connections: &Connections) -> i32 {
    sqlx::query_scalar("select pg_backend_pid()")
        .fetch_one(connections)
        .await
        .unwrap()
}

/// Whether a server process `pid` still runs on the test's own database, seen from a
/// connection of the test's own. Scoped to that database: other tests share the server.
async fn backend_alive(db: &PgPool, pid: i32) -> bool {
    sqlx::query_scalar(
        "select exists (select 1 from pg_stat_activity
                        where pid = $1 and datname = current_database())",
    )
    .bind(pid)
    .fetch_one(db)
    .await
    .unwrap()
}

/// Ends server process `pid` from the test's own connection, and waits until it is gone.
async fn terminate(db: &PgPool, pid: i32) {
    sqlx::query("select pg_terminate_backend($1)")
        .bind(pid)
        .execute(db)
        .await
        .unwrap();
    until_gone(db, pid).await;
}

async fn until_gone(db: &PgPool, pid: i32) {
    tokio::time::timeout(PATIENCE, async {
        while backend_alive(db, pid).await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the closed connection's server process ended");
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_finished_statement_gives_its_connection_back_for_reuse(db: PgPool) {
    let connections = one_connection(&db);

    let first = backend_pid(&connections).await;
    let failed = sqlx::query("select 1/0").execute(&connections).await;
    let again = backend_pid(&connections).await;

    assert!(failed.is_err(), "division by zero fails");
    assert_eq!(
        first, again,
        "a statement that finished, even with an error, keeps its connection"
    );
    assert_eq!((connections.num_idle(), connections.size()), (1, 1));
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_connection_idle_too_long_is_closed(db: PgPool) {
    let connections = one_connection_idling(&db, Duration::from_millis(50), PATIENCE);
    let before = backend_pid(&connections).await;

    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = backend_pid(&connections).await;

    assert_ne!(before, after, "the idle connection was replaced");
    until_gone(&db, before).await;
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_connection_that_died_while_unused_is_replaced_before_it_is_lent(db: PgPool) {
    let connections = one_connection_idling(&db, PATIENCE, Duration::ZERO);
    let before = backend_pid(&connections).await;

    // As a restarted server or a dropped idle connection would leave it.
    terminate(&db, before).await;
    let after = sqlx::query_scalar::<_, i32>("select pg_backend_pid()")
        .fetch_one(&connections)
        .await;

    assert!(
        matches!(after, Ok(pid) if pid != before),
        "a new connection answered: {after:?}"
    );
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_connection_the_server_ended_is_not_lent_again(db: PgPool) {
    // Used again at once, so not pinged first: the statement meets the server's goodbye.
    let connections = one_connection_idling(&db, PATIENCE, PATIENCE);
    let before = backend_pid(&connections).await;

    terminate(&db, before).await;
    let failed = sqlx::query("select 1").execute(&connections).await;
    let after = backend_pid(&connections).await;

    assert!(failed.is_err(), "the ended session cannot answer");
    assert_ne!(before, after, "the next statement gets a new connection");
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_cancelled_statement_closes_its_connection(db: PgPool) {
    let connections = one_connection(&db);
    let before = backend_pid(&connections).await;

    // PostgreSQL notices a closed connection only when it next talks to the client: once
    // this sleep is over.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(100),
        sqlx::query("select pg_sleep(2)").execute(&connections),
    )
    .await;
    let after = backend_pid(&connections).await;

    assert!(cancelled.is_err(), "the sleep was cut short");
    assert_ne!(
        before, after,
        "the next statement runs on a new connection, not behind the abandoned one"
    );
    until_gone(&db, before).await;
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_lock_abandoned_by_its_holder_is_released_with_its_connection(db: PgPool) {
    let ([_holder_replica, other_replica], held, holder) = held_by_one_replica(&db).await;

    drop(held);
    let taken = tokio::time::timeout(PATIENCE, other_replica.lock(ZONE)).await;

    assert!(matches!(taken, Ok(Ok(_))), "another replica takes the lock");
    until_gone(&db, holder).await;
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_released_lock_is_free_and_its_connection_stays_open(db: PgPool) {
    let ([_holder_replica, other_replica], held, holder) = held_by_one_replica(&db).await;

    held.release().await;
    let taken = other_replica.lock(ZONE).await.unwrap();
    let reheld_elsewhere = lock_holder(&db).await;

    assert_ne!(holder, reheld_elsewhere);
    assert!(
        backend_alive(&db, holder).await,
        "the released lock's connection went back to the pool"
    );
    taken.release().await;
}

/// Two replicas sharing the database, the first holding a zone's lock: the replicas, the
/// lock, and the server process holding it.
async fn held_by_one_replica(db: &PgPool) -> ([PgStore; 2], StoreLock, i32) {
    let replicas = [PgStore::like(db), PgStore::like(db)];
    let held = replicas[0].lock(ZONE).await.unwrap();
    (replicas, held, lock_holder(db).await)
}

const ZONE: &str = "zone:omani.works";

/// The server process holding PDM's one advisory lock in the test's own database. `pg_locks`
/// spans the server, where tests running beside this one hold advisory locks of their own.
async fn lock_holder(db: &PgPool) -> i32 {
    sqlx::query_scalar(
        "select pid from pg_locks
         where locktype = 'advisory' and granted
           and database = (select oid from pg_database where datname = current_database())",
    )
    .fetch_one(db)
    .await
    .unwrap()
}
