//! `/metrics` exposes the named series once there has been traffic.

use http::StatusCode;
use pdm_tests::{LB_IP, TestApp, TextRequest, seed_reservations};
use sqlx::PgPool;

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
