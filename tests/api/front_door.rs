//! The front door against hostile or broken input: metric labels no request can multiply,
//! slow bodies that hold no slot, probes that are never shed, text the database cannot store,
//! a database that refuses connections, HEAD and percent-encoded pools.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::Full;
use pdm_core::Ctx;
use pdm_core::http::Endpoint;
use pdm_tests::served::{Process, database_url};
use pdm_tests::{LB_IP, POOL, TestApp, TextRequest, config, raw_request};
use serde_json::json;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The exposition's request counters, the scrapes' own left out.
async fn request_series(app: &TestApp) -> Vec<String> {
    let (_, _, text) = app.endpoint.clone().oneshot_text("/metrics").await;
    text.lines()
        .filter(|line| line.starts_with("pdm_http_requests_total{"))
        .filter(|line| !line.contains(r#"route="/metrics""#))
        .map(str::to_owned)
        .collect()
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn no_request_can_add_a_metric_series(db: PgPool) {
    // Arrange
    let app = TestApp::new(db);
    app.get("/no/such/path").await;
    let before = request_series(&app).await;

    // Act: made-up methods and paths, each different, none known.
    for i in 0..100 {
        let method = Method::from_bytes(format!("MADEUP{i}{}", "X".repeat(2000)).as_bytes());
        let request = Request::builder()
            .method(method.unwrap())
            .uri(format!("/no/such/path/{i}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        assert_eq!(app.send(request).await.status, StatusCode::NOT_FOUND);
    }

    // Assert: one new series for all of them (the folded method), none naming them.
    let after = request_series(&app).await;
    assert_eq!(after.len(), before.len() + 1, "{after:#?}");
    assert!(
        after.iter().all(|line| !line.contains("MADEUP")),
        "{after:#?}"
    );
    assert!(
        after
            .iter()
            .any(|line| line.contains(r#"route="unmatched",method="other",status="404""#)),
        "{after:#?}"
    );
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn probes_are_never_shed_while_every_slot_is_taken(db: PgPool) {
    // Arrange: one slot, taken by a commit waiting for the zone's lock, which the test holds.
    let app = TestApp::with_config(db.clone(), &config(&[("PDM_MAX_IN_FLIGHT", "1")]));
    let token = app.reserve_token("acme").await;
    let held = app.pdm().store().lock("zone:omani.works").await.unwrap();
    let (commit, probes) = tokio::join!(app.commit("acme", &token, LB_IP), async {
        while pdm_tests::lock_waiters(&db).await == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        // Act
        let answers = (
            app.get("/healthz").await,
            app.get("/livez").await,
            app.get("/readyz").await,
            app.check("other").await,
        );
        held.release().await;
        answers
    });

    // Assert
    let (health, live, ready, check) = probes;
    for probe in [&health, &live, &ready] {
        assert_eq!(probe.status, StatusCode::OK, "{:?}", probe.body);
    }
    assert_eq!(check.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(check.error(), "overloaded");
    assert_eq!(commit.status, StatusCode::OK);
}

/// Sends a request whose body promises 100 bytes and delivers 6, and keeps the socket.
async fn slow_body(base: &str) -> tokio::net::TcpStream {
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/v1/pool/{POOL}/reserve HTTP/1.1\r\nHost: pdm\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"sub"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn slow_bodies_hold_no_slot_and_get_408(db: PgPool) {
    // Arrange: four slots, and twenty senders that never finish their bodies.
    let env: Vec<(String, String)> = [
        ("PDM_DATABASE_URL", database_url(&db)),
        ("PDM_MAX_IN_FLIGHT", "4".to_owned()),
        ("PDM_BODY_TIMEOUT", "3s".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut server = Process::start("pdm-server", &env).await;
    server.wait_until_ready().await;
    let mut slow = Vec::new();
    for _ in 0..20 {
        slow.push(slow_body(&server.base).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = reqwest::Client::new();

    // Act
    let mut answers = Vec::new();
    for path in [
        "/healthz",
        "/readyz",
        "/api/v1/pool/omani.works/check?sub=acme",
    ] {
        let response = client.get(format!("{}{path}", server.base)).send().await;
        answers.push((path, response.unwrap().status()));
    }
    let mut first = String::new();
    tokio::time::timeout(Duration::from_secs(60), slow[0].read_to_string(&mut first))
        .await
        .expect("the slow sender is answered and the connection closed")
        .unwrap();

    // Assert
    for (path, status) in answers {
        assert_eq!(status, 200, "{path}");
    }
    assert!(first.starts_with("HTTP/1.1 408"), "{first}");
    assert!(first.contains(r#""error":"request-timeout""#), "{first}");
}

contract_test!(
    text_the_database_cannot_store_is_refused_at_the_edge,
    |app| {
        // Act
        let cursor = app
            .get(&format!("/api/v1/pool/{POOL}/list?after=%00&limit=5"))
            .await;
        let created_by = app
            .call(
                Method::POST,
                &format!("/api/v1/pool/{POOL}/reserve"),
                Some(json!({"subdomain": "acme", "createdBy": "a\u{0}b"})),
            )
            .await;
        let too_long = app
            .call(
                Method::POST,
                &format!("/api/v1/pool/{POOL}/reserve"),
                Some(json!({"subdomain": "acme", "createdBy": "x".repeat(257)})),
            )
            .await;
        let check = app
            .get(&format!("/api/v1/pool/{POOL}/check?sub=a%00b"))
            .await;
        let history = app
            .get(&format!("/api/v1/pool/{POOL}/history?sub=a%00b"))
            .await;

        // Assert: clear refusals in the contract's shape, never a 500.
        assert_eq!(cursor.status, StatusCode::BAD_REQUEST, "{:?}", cursor.body);
        assert_eq!(created_by.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(created_by.error(), "invalid-format");
        assert_eq!(too_long.error(), "invalid-format");
        assert_eq!(check.status, StatusCode::OK);
        assert_eq!(check.body["reason"], "invalid-format");
        assert_eq!(history.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.row_count().await, 0);
    }
);

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_database_that_refuses_the_connection_is_503_with_retry_after(db: PgPool) {
    let options = db.connect_options();
    let server = format!("{}:{}", options.get_host(), options.get_port());
    let refusals = [
        (
            "unknown database",
            format!("postgres://postgres@{server}/pdm_no_such_database"),
        ),
        (
            "unknown user",
            format!("postgres://pdm_no_such_user@{server}/postgres"),
        ),
    ];
    for (why, url) in refusals {
        // Arrange
        let ctx = Ctx::from_config(&config(&[("PDM_DATABASE_URL", url.as_str())])).unwrap();
        let app = TestApp::new(db.clone()).with_endpoint(Endpoint::router(ctx));

        // Act
        let reserve = app.reserve("acme").await;
        let ready = app.get("/readyz").await;

        // Assert
        assert_eq!(
            reserve.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{why}: {:?}",
            reserve.body
        );
        assert_eq!(reserve.error(), "unavailable", "{why}");
        assert_eq!(reserve.headers[header::RETRY_AFTER], "1", "{why}");
        assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{why}");
    }
}

contract_test!(head_answers_as_get_without_a_body, |app| {
    // Act
    let get = app.get("/api/v1/reserved").await;
    let head = app
        .send(raw_request(Method::HEAD, "/api/v1/reserved", "", &[]))
        .await;

    // Assert
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.body, serde_json::Value::Null, "no body");
    assert_eq!(
        head.headers[header::CONTENT_LENGTH],
        get.body.to_string().len().to_string()
    );
});

contract_test!(a_percent_encoded_pool_is_decoded, |app| {
    // Act
    let check = app.get("/api/v1/pool/omani%2Eworks/check?sub=acme").await;

    // Assert
    assert_eq!(check.status, StatusCode::OK);
    assert_eq!(check.body["fqdn"], "acme.omani.works");
    assert_eq!(check.body["available"], true);
});

contract_test!(
    the_bearer_scheme_is_case_insensitive_and_padded_tokens_work,
    ["PDM_API_TOKENS" = "catalyst=c2VjcmV0LXRva2Vu=="],
    |app| {
        // Arrange
        let reserve = |sub: &str, authorization: &'static str| {
            let body = json!({"subdomain": sub}).to_string();
            raw_request(
                Method::POST,
                &format!("/api/v1/pool/{POOL}/reserve"),
                &body,
                &[
                    (header::CONTENT_TYPE, "application/json"),
                    (header::AUTHORIZATION, authorization),
                ],
            )
        };

        // Act
        let lower = app.send(reserve("a1", "bearer c2VjcmV0LXRva2Vu==")).await;
        let upper = app.send(reserve("a2", "BEARER c2VjcmV0LXRva2Vu==")).await;
        let half = app.send(reserve("a3", "Bearer =")).await;
        let unpadded = app.send(reserve("a4", "Bearer c2VjcmV0LXRva2Vu")).await;

        // Assert
        assert_eq!(lower.status, StatusCode::CREATED, "{:?}", lower.body);
        assert_eq!(upper.status, StatusCode::CREATED, "{:?}", upper.body);
        for refused in [&half, &unpadded] {
            assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
            assert_eq!(
                refused.headers[header::WWW_AUTHENTICATE],
                r#"Bearer realm="pdm", error="invalid_token", Basic realm="pdm""#
            );
        }
        let history = app.send(raw_request(
            Method::GET,
            &format!("/api/v1/pool/{POOL}/history?sub=a1"),
            "",
            &[(header::AUTHORIZATION, "Bearer c2VjcmV0LXRva2Vu==")],
        ));
        let events = history.await.body.to_string();
        assert!(events.contains(r#""actor":"catalyst""#), "{events}");
    }
);

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn the_server_listens_before_its_database_exists_and_becomes_ready_without_a_restart(
    db: PgPool,
) {
    // Arrange: a database that does not exist yet.
    let name = format!("pdm_late_{}", uuid::Uuid::new_v4().simple());
    let url = database_url(&db);
    let late_url = format!("{}/{name}", url.rsplit_once('/').unwrap().0);
    let env = vec![
        ("PDM_DATABASE_URL".to_owned(), late_url),
        ("PDM_SWEEPER_INTERVAL".to_owned(), "1s".to_owned()),
    ];
    let mut server = Process::start("pdm-server", &env).await;
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{}{path}", server.base)).send();

    // Act + Assert: alive but not ready …
    assert_eq!(get("/livez").await.unwrap().status(), 200);
    let not_ready = get("/readyz").await.unwrap();
    assert_eq!(not_ready.status(), 503);
    assert!(not_ready.text().await.unwrap().contains("database"));
    // … then ready once the database exists.
    sqlx::query(&format!("create database {name}"))
        .execute(&db)
        .await
        .unwrap();
    server.wait_until_ready().await;
    let reserved = client
        .post(format!("{}/api/v1/pool/{POOL}/reserve", server.base))
        .json(&json!({"subdomain": "acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reserved.status(), 201);
    drop(server);
    sqlx::query(&format!("drop database {name} with (force)"))
        .execute(&db)
        .await
        .unwrap();
}

#[sqlx::test(migrations = false)]
async fn a_request_before_the_migrations_is_503_not_500(db: PgPool) {
    // Arrange: a database the server has not migrated yet.
    let app = TestApp::new(db);

    // Act
    let reserve = app.reserve("acme").await;
    let ready = app.get("/readyz").await;

    // Assert
    assert_eq!(
        reserve.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        reserve.body
    );
    assert_eq!(reserve.error(), "unavailable");
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_declared_length_past_the_limit_is_413_at_once(db: PgPool) {
    // Arrange
    let env = vec![("PDM_DATABASE_URL".to_owned(), database_url(&db))];
    let mut server = Process::start("pdm-server", &env).await;
    server.wait_until_ready().await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/v1/pool/{POOL}/reserve HTTP/1.1\r\nHost: pdm\r\n\
         Content-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{{"
    );

    // Act: the body never comes; the answer must not wait for it (PDM_BODY_TIMEOUT is 10 s).
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0; 512];
    let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut answer)).await;

    // Assert
    let read = read.expect("answered before the body timeout").unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}
