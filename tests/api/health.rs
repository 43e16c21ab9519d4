use http::StatusCode;
use pdm_core::http::Endpoint;
use pdm_core::{Ctx, MIGRATOR};
use pdm_tests::{TestApp, config, request};
use serde_json::json;
use sqlx::PgPool;
use tower::ServiceExt;

contract_test!(
    healthz_is_ok_with_the_managed_domains_when_the_database_answers,
    [],
    |app| {
        let reply = app.get("/healthz").await;

        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            reply.body,
            json!({"status": "ok", "managedDomains": ["omani.works", "openova.io"]})
        );
    }
);

#[tokio::test]
async fn healthz_is_503_when_the_database_does_not_answer() {
    // Arrange
    let endpoint = pdm_tests::with_the_database_down();

    // Act
    let health = endpoint
        .clone()
        .oneshot(request(http::Method::GET, "/healthz", None))
        .await
        .unwrap();
    let reserve = endpoint
        .oneshot(request(
            http::Method::POST,
            "/api/v1/pool/omani.works/reserve",
            Some(json!({"subdomain": "acme"})),
        ))
        .await
        .unwrap();

    // Assert: an outage is a 503 to retry, never a 500.
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reserve.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[sqlx::test(migrations = false)]
async fn migrations_apply_twice_and_concurrently(db: PgPool) {
    let (first, second) = tokio::join!(MIGRATOR.run(&db), MIGRATOR.run(&db));
    first.unwrap();
    second.unwrap();
    MIGRATOR.run(&db).await.unwrap();

    let app = TestApp::new(db);
    assert_eq!(app.reserve("acme").await.status, StatusCode::CREATED);
}

#[sqlx::test(migrations = false)]
async fn migrations_adopt_a_table_the_original_service_created(db: PgPool) {
    // Arrange: the table exists already, as the Go service left it.
    sqlx::query(
        "create table pool_allocations (
            pool_domain text not null, subdomain text not null,
            state text not null check (state in ('reserved', 'active')),
            reserved_at timestamptz not null default now(), expires_at timestamptz,
            sovereign_fqdn text, load_balancer_ip text, reservation_token uuid not null,
            created_by text not null default '', primary key (pool_domain, subdomain))",
    )
    .execute(&db)
    .await
    .unwrap();

    // Act
    MIGRATOR.run(&db).await.unwrap();

    // Assert
    let app = TestApp::new(db);
    assert_eq!(app.reserve("acme").await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn reserved_lists_the_platform_labels_sorted() {
    // No database is needed: nothing listens where it points.
    let config = config(&[("PDM_DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")]);
    let endpoint = Endpoint::router(Ctx::from_config(&config).unwrap());

    let response = endpoint
        .oneshot(request(http::Method::GET, "/api/v1/reserved", None))
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let labels: Vec<&str> = body["reserved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(labels.len(), 21);
    assert!(labels.windows(2).all(|w| w[0] < w[1]), "{labels:?}");
    for label in ["admin", "api", "console", "gitea", "harbor", "www"] {
        assert!(labels.contains(&label), "{label}");
    }
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_read_only_database_answers_503_with_retry_after_and_is_not_ready(db: PgPool) {
    // Arrange: a failover in progress, as PostgreSQL shows it to new sessions.
    let allocated = TestApp::new(db.clone());
    allocated.allocate("acme").await;
    let name: String = sqlx::query_scalar("select current_database()")
        .fetch_one(&db)
        .await
        .unwrap();
    sqlx::query(&format!(
        r#"alter database "{name}" set default_transaction_read_only = on"#
    ))
    .execute(&db)
    .await
    .unwrap();
    let app = TestApp::new(db); // its connections are new sessions: read-only

    // Act
    let reserve = app.reserve("beta").await;
    let release = app.release("acme").await;
    let ready = app.get("/readyz").await;

    // Assert
    for refused in [&reserve, &release] {
        assert_eq!(
            refused.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{:?}",
            refused.body
        );
        assert_eq!(refused.error(), "unavailable");
        assert_eq!(refused.headers[http::header::RETRY_AFTER], "1");
    }
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        ready.body
    );
    assert!(ready.body["detail"].as_str().unwrap().contains("read-only"));
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_statement_timeout_is_503_not_500(db: PgPool) {
    let mut connection = db.acquire().await.unwrap();
    sqlx::query("set statement_timeout = '10ms'")
        .execute(&mut *connection)
        .await
        .unwrap();

    let timed_out = sqlx::query("select pg_sleep(1)")
        .execute(&mut *connection)
        .await
        .unwrap_err();

    let error = pdm_core::Error::from(timed_out);
    assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error.code(), "unavailable");
}
