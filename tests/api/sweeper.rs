use http::StatusCode;
use pdm_core::service::SWEEP_BATCH;
use pdm_tests::{TestApp, seed_reservations};
use sqlx::PgPool;

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn sweep_deletes_every_lapsed_reservation_in_bounded_batches(db: PgPool) {
    // Arrange: more lapsed rows than two batches, beside live ones and an allocation.
    let app = TestApp::new(db.clone());
    let lapsed = 2 * SWEEP_BATCH + 7;
    seed_reservations(&db, "old", lapsed, true).await;
    seed_reservations(&db, "live", 5, false).await;
    app.allocate("acme").await;

    // Act
    let report = app.pdm().maintain().await.unwrap();

    // Assert
    assert_eq!(report.swept, u64::try_from(lapsed).unwrap());
    assert_eq!(report.sweep_batches, 3);
    assert_eq!(app.row_count().await, 6);
    assert_eq!(app.check("live1").await.body["reason"], "reserved-state");
    assert_eq!(app.check("acme").await.body["reason"], "active-state");
    assert_eq!(app.check("old1").await.body["available"], true);
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn sweep_with_nothing_lapsed_deletes_nothing(db: PgPool) {
    let app = TestApp::new(db.clone());
    seed_reservations(&db, "live", 3, false).await;

    let report = app.pdm().maintain().await.unwrap();

    assert_eq!(report.swept, 0);
    assert_eq!(report.sweep_batches, 1);
    assert_eq!(app.row_count().await, 3);
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn sweep_and_takeover_racing_on_one_lapsed_name_leave_one_valid_holder(db: PgPool) {
    // Arrange
    let app = TestApp::new(db.clone());
    app.reserve_token("acme").await;
    app.lapse("acme").await;

    // Act
    let (reserve, sweep) = tokio::join!(app.reserve("acme"), app.pdm().maintain());

    // Assert: whatever the order, the new reservation wins and survives the sweep.
    assert_eq!(reserve.status, StatusCode::CREATED);
    assert!(sweep.unwrap().swept <= 1);
    assert_eq!(app.check("acme").await.body["reason"], "reserved-state");
    assert_eq!(app.row_count().await, 1);
}
