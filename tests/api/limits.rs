//! The HTTP layer sheds load instead of queueing without bound, and bounds every request's
//! time; a request cut short leaves the state consistent for the reconciler.

use std::time::Duration;

use http::StatusCode;
use pdm_tests::fake_dynadot::{FakeDynadot, FakeZone};
use pdm_tests::{DYNADOT_KEY, LB_IP, POOL, TestApp};
use sqlx::PgPool;

async fn slow_dynadot(latency: Duration) -> FakeDynadot {
    let fake = FakeDynadot::start(DYNADOT_KEY).await;
    fake.seed(POOL, FakeZone::with_foreign_records());
    fake.set_latency(latency);
    fake
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn beyond_max_in_flight_requests_are_refused_with_503_but_livez_answers(db: PgPool) {
    // Arrange: one request at a time, and a commit that holds it while Dynadot is slow.
    let fake = slow_dynadot(Duration::ZERO).await;
    let app = TestApp::with_dynadot(db, &fake.url, &[("PDM_MAX_IN_FLIGHT", "1")]);
    let token = app.reserve_token("acme").await;
    fake.set_latency(Duration::from_millis(500));

    // Act: a check arrives while the commit is in flight.
    let (commit, (check, live)) = tokio::join!(app.commit("acme", &token, LB_IP), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        (app.check("other").await, app.get("/livez").await)
    });

    // Assert
    assert_eq!(commit.status, StatusCode::OK);
    assert_eq!(check.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(check.error(), "overloaded");
    assert_eq!(check.headers["retry-after"], "1");
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(
        app.check("other").await.status,
        StatusCode::OK,
        "the slot is free again"
    );
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_request_over_its_time_is_503_and_the_reconciler_finishes_its_work(db: PgPool) {
    // Arrange
    let fake = slow_dynadot(Duration::ZERO).await;
    let app = TestApp::with_dynadot(db, &fake.url, &[("PDM_REQUEST_TIMEOUT", "300ms")]);
    let token = app.reserve_token("acme").await;
    fake.set_latency(Duration::from_secs(2));

    // Act
    let commit = app.commit("acme", &token, LB_IP).await;
    fake.set_latency(Duration::ZERO);

    // Assert: cut short after the row changed; the owed DNS change is not lost.
    assert_eq!(commit.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(commit.error(), "timeout");
    assert_eq!(app.check("acme").await.body["reason"], "active-state");
    app.make_pending_due().await;
    app.pdm().maintain().await.unwrap();
    assert_eq!(fake.zone(POOL).at("console.acme").len(), 1);
    assert_eq!(
        app.commit("acme", &token, LB_IP).await.status,
        StatusCode::OK
    );
}
