//! `/metrics` exposes the named series once there has been traffic.

use std::time::{Duration, Instant};

use futures::future::join_all;
use http::StatusCode;
use pdm_tests::{LB_IP, TestApp, TextRequest, seed_reservations};
use sqlx::PgPool;
use tokio::time::sleep;

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn metrics_expose_requests_dns_expiry_allocations_and_the_pool(db: PgPool) {
    // Arrange: traffic, a failed DNS write and an expiry.
    let app = TestApp::new(db.clone());
    let token = app.reserve_token("acme").await;
    app.check("acme").await;
    app.dns().set_failing(true);
    assert_eq!(
        app.commit("acme", &token, LB_IP).await.status,
        StatusCode::ACCEPTED
    );
    seed_reservations(&db, "old", 2, true).await;
    app.pdm().maintain().await.unwrap();

    // Act
    let scrape = app.endpoint.clone().oneshot_text("/metrics").await;

    // Assert
    let (status, content_type, text) = scrape;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    for series in [
        r#"pdm_http_requests_total{route="/api/v1/pool/{domain}/reserve",method="POST",status="201"} 1"#,
        r#"pdm_http_requests_total{route="/api/v1/pool/{domain}/commit",method="POST",status="202"} 1"#,
        r#"pdm_http_request_duration_seconds_count{route="/api/v1/pool/{domain}/check"} 1"#,
        r#"pdm_dns_changes_total{provider="in-memory",operation="publish",outcome="unavailable"} 1"#,
        r#"pdm_dns_change_duration_seconds_count{provider="in-memory",operation="publish"} 1"#,
        "pdm_reservations_expired_total 2",
        r#"pdm_allocations{pool="omani.works",state="active"} 1"#,
        "pdm_dns_pending 1",
        r#"pdm_db_connections{state="idle"}"#,
    ] {
        assert!(text.contains(series), "missing {series} in:\n{text}");
    }
}

/// Scrapers cost at most one table read per few seconds: with the table locked, one scrape's
/// read waits (until its deadline) and every other scrape answers at once.
#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn scrapes_share_one_table_read_and_answer_while_the_table_is_locked(db: PgPool) {
    // Arrange
    let app = TestApp::new(db.clone());
    let mut locker = db.begin().await.unwrap();
    sqlx::query("lock table pool_allocations in access exclusive mode")
        .execute(&mut *locker)
        .await
        .unwrap();

    // Act
    let started = Instant::now();
    let scrapes = join_all((0..16).map(|_| app.endpoint.clone().oneshot_text("/metrics")));
    let watch = async {
        sleep(Duration::from_millis(500)).await;
        waiting_on_the_table(&db).await
    };
    let (answers, waiting) = tokio::join!(scrapes, watch);
    locker.rollback().await.unwrap();

    // Assert
    assert_eq!(waiting, 1, "one read for sixteen scrapes");
    assert!(
        answers
            .iter()
            .all(|(status, _, _)| *status == StatusCode::OK)
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the read has a deadline"
    );
    let (_, _, text) = &answers[0];
    assert!(
        text.contains("pdm_http_requests_total") || text.contains("pdm_table_state_age_seconds")
    );
}

/// Backends of this test's database waiting for a lock on the allocations table.
async fn waiting_on_the_table(db: &PgPool) -> i64 {
    sqlx::query_scalar(
        "select count(*) from pg_locks l
         join pg_database d on d.oid = l.database
         where d.datname = current_database() and not l.granted
           and l.relation = 'pool_allocations'::regclass",
    )
    .fetch_one(db)
    .await
    .unwrap()
}

#[tokio::test]
async fn metrics_answer_from_the_process_while_the_database_is_down() {
    // Arrange
    let endpoint = pdm_tests::with_the_database_down();
    let _ = endpoint.clone().oneshot_text("/healthz").await;

    // Act
    let (status, _, text) = endpoint.oneshot_text("/metrics").await;

    // Assert
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains(r#"pdm_http_requests_total{route="/healthz",method="GET",status="503"} 1"#),
        "{text}"
    );
}
