//! What PDM's outbound calls may cost and where they may go: no redirect is followed (it
//! would carry a provider's key or a customer's token to the host it names), and no answer is
//! read past its cap, whatever the upstream sends.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::StatusCode;
use pdm_tests::fake_registrars::{answer, serve};
use pdm_tests::{DYNADOT_KEY, TestApp, config};
use serde_json::json;
use sqlx::PgPool;

/// A host that counts what reaches it, and one that redirects every request there.
async fn redirect_to_a_collector() -> (String, Arc<AtomicUsize>, Vec<pdm_runtime::Shutdown>) {
    let reached = Arc::new(AtomicUsize::new(0));
    let counter = reached.clone();
    let (collector, stop_collector) = serve(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        answer(StatusCode::OK, &json!({}), &[])
    })
    .await;
    let (redirector, stop_redirector) = serve(move |asked| {
        let query = asked.raw_query.map(|q| format!("?{q}")).unwrap_or_default();
        let location = format!("{collector}{}{query}", asked.path);
        answer(
            StatusCode::TEMPORARY_REDIRECT,
            &json!({}),
            &[("location", location)],
        )
    })
    .await;
    (redirector, reached, vec![stop_collector, stop_redirector])
}

/// A validate call through PDM to a GoDaddy API at `url`.
async fn validate_at_godaddy(db: PgPool, url: &str) -> pdm_tests::Reply {
    let app = TestApp::with_config(db, &config(&[("GODADDY_API_URL", url)]));
    app.call(
        http::Method::POST,
        "/api/v1/registrar/godaddy/validate",
        Some(json!({"domain": "customer-owned.com", "token": "gd-key-1:gd-secret-2"})),
    )
    .await
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_registrar_redirect_is_not_followed_with_the_customers_token(db: PgPool) {
    // Arrange
    let (redirector, reached, _servers) = redirect_to_a_collector().await;

    // Act
    let answered = validate_at_godaddy(db, &redirector).await;

    // Assert: refused, and nothing reached the other host.
    assert!(answered.status.is_client_error() || answered.status.is_server_error());
    assert_ne!(answered.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reached.load(Ordering::SeqCst), 0);
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_dns_provider_redirect_is_not_followed_with_the_key(db: PgPool) {
    // Arrange: api3 carries the key in its query.
    let (redirector, reached, _servers) = redirect_to_a_collector().await;
    let app = TestApp::with_dynadot(db, &format!("{redirector}/api3.json"), &[]);

    // Act: reserving reads the zone first (its room).
    let reserved = app.reserve("acme").await;

    // Assert: the provider counts as unavailable; the key went nowhere else.
    assert_eq!(
        reserved.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        reserved.body
    );
    assert_eq!(reached.load(Ordering::SeqCst), 0);
    assert!(!reserved.body.to_string().contains(DYNADOT_KEY));
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn an_answer_past_the_cap_is_not_read(db: PgPool) {
    // Arrange: a registrar answering 8 MiB of otherwise valid JSON.
    let padding = "x".repeat(8 * 1024 * 1024);
    let (huge, _server) = serve(move |_| {
        let body = json!({"domain": "customer-owned.com", "nameServers": [], "pad": padding});
        answer(StatusCode::OK, &body, &[])
    })
    .await;

    // Act
    let answered = validate_at_godaddy(db, &huge).await;

    // Assert: taken for an unavailable registrar, not for a valid answer.
    assert_eq!(
        answered.status,
        StatusCode::BAD_GATEWAY,
        "{:?}",
        answered.body
    );
}
