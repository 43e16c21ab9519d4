//! No secret (database password, bearer tokens, Dynadot key) in any log line or answer, down
//! every error path: refused tokens, an unreachable database, a failing Dynadot, bad input.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, header};
use pdm_core::Ctx;
use pdm_core::http::Endpoint;
use pdm_tests::fake_dynadot::{FakeDynadot, FakeZone};
use pdm_tests::served::{Process, database_url};
use pdm_tests::{DYNADOT_KEY, LB_IP, LogCapture, POOL, TestApp, config, raw_request};
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

const TOKEN: &str = "bearer-secret-91c4e7";
const DB_PASSWORD: &str = "db-password-3a8f52";

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn secrets_stay_out_of_logs_and_answers_on_every_error_path(db: PgPool) {
    // Arrange
    let logs = LogCapture::default();
    let _capture = logs.install();
    let fake = FakeDynadot::start(DYNADOT_KEY).await;
    fake.seed(POOL, FakeZone::with_foreign_records());
    let tokens = format!("catalyst={TOKEN}");
    let overrides = [("PDM_API_TOKENS", tokens.as_str())];
    let app = TestApp::with_dynadot(db, &fake.url, &overrides);
    let bearer = format!("Bearer {TOKEN}");
    let authorized = [
        (header::CONTENT_TYPE, "application/json"),
        (header::AUTHORIZATION, bearer.as_str()),
    ];
    let reserve = format!("/api/v1/pool/{POOL}/reserve");
    let mut answers = Vec::new();

    // Act: refused and malformed requests, then DNS failures.
    for headers in [
        vec![(header::AUTHORIZATION, "Bearer not-the-token")],
        vec![(header::AUTHORIZATION, TOKEN)],
        authorized.to_vec(),
    ] {
        let reply = app
            .send(raw_request(Method::POST, &reserve, "{broken", &headers))
            .await;
        answers.push(format!("{:?} {}", reply.headers, reply.body));
    }
    let body = json!({"subdomain": "acme"}).to_string();
    let reserved = app
        .send(raw_request(Method::POST, &reserve, &body, &authorized))
        .await;
    let token = reserved.body["reservationToken"]
        .as_str()
        .unwrap()
        .to_owned();
    fake.set_fault_rate(1.0);
    let commit = json!({"subdomain": "acme", "reservationToken": token, "loadBalancerIP": LB_IP});
    let commit_uri = format!("/api/v1/pool/{POOL}/commit");
    let reply = app
        .send(raw_request(
            Method::POST,
            &commit_uri,
            &commit.to_string(),
            &authorized,
        ))
        .await;
    answers.push(format!("{:?} {}", reply.headers, reply.body));

    // An unreachable database whose URL carries a password.
    let url = format!("postgres://pdm:{DB_PASSWORD}@127.0.0.1:9/pdm");
    let down = config(&[
        ("PDM_DATABASE_URL", url.as_str()),
        ("PDM_API_TOKENS", tokens.as_str()),
    ]);
    let unreachable = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(200))
        .connect_lazy(down.postgres_url().unwrap())
        .unwrap();
    let endpoint = Endpoint::router(Ctx::with_pool(
        &down,
        &unreachable,
        Arc::new(pdm_core::dns::LogOnly),
    ));
    let outage = TestApp::new(app.db.clone()).with_endpoint(endpoint);
    for uri in ["/healthz", "/readyz"] {
        let reply = outage.get(uri).await;
        answers.push(format!("{:?} {}", reply.headers, reply.body));
    }
    let reply = outage
        .send(raw_request(Method::POST, &reserve, &body, &authorized))
        .await;
    answers.push(format!("{:?} {}", reply.headers, reply.body));
    answers.push(format!("{down:?}"));

    // Assert: the failures were logged, and no secret anywhere.
    let logged = logs.text();
    assert!(
        logged.contains("database is not answering"),
        "the capture works: {logged}"
    );
    assert!(logged.contains("DNS change failed"), "{logged}");
    for secret in [TOKEN, DB_PASSWORD, DYNADOT_KEY] {
        assert!(!logged.contains(secret), "{secret} was logged");
        for answer in &answers {
            assert!(!answer.contains(secret), "{secret} was answered: {answer}");
        }
    }
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn the_server_never_prints_its_secrets_at_startup_or_on_failure(db: PgPool) {
    // Arrange: a server whose Dynadot is unreachable, with every secret set.
    let url = database_url(&db);
    let tokens = format!("catalyst={TOKEN}");
    let env: Vec<(String, String)> = [
        ("PDM_DATABASE_URL", url.as_str()),
        ("PDM_API_TOKENS", tokens.as_str()),
        ("DYNADOT_API_KEY", DYNADOT_KEY),
        ("DYNADOT_API_URL", "http://127.0.0.1:9/api3.json"),
        ("PDM_LOG_LEVEL", "trace"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let logs = std::env::temp_dir().join(format!("pdm-secrets-{}.log", uuid::Uuid::new_v4()));
    let server = Process::start_logging("pdm-server", &env, &logs).await;
    let client = reqwest::Client::new();

    // Act: a refused request, and a reservation that needs the unreachable zone.
    let refused = client
        .post(format!("{}/api/v1/pool/{POOL}/reserve", server.base))
        .bearer_auth("wrong")
        .json(&json!({"subdomain": "acme"}))
        .send()
        .await
        .unwrap();
    let unreachable = client
        .post(format!("{}/api/v1/pool/{POOL}/reserve", server.base))
        .bearer_auth(TOKEN)
        .json(&json!({"subdomain": "acme"}))
        .send()
        .await
        .unwrap();
    let answers = format!(
        "{} {}",
        refused.text().await.unwrap(),
        unreachable.text().await.unwrap()
    );
    drop(server);

    // Assert
    let logged = std::fs::read_to_string(&logs).unwrap();
    let _ = std::fs::remove_file(&logs);
    assert!(
        logged.contains("DNS provider: Dynadot"),
        "the capture works: {logged}"
    );
    for secret in [TOKEN, DYNADOT_KEY] {
        assert!(!logged.contains(secret), "{secret} was logged");
        assert!(
            !answers.contains(secret),
            "{secret} was answered: {answers}"
        );
    }
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_provider_echoing_the_request_leaks_no_encoding_of_the_key(db: PgPool) {
    // Arrange: a key that URL encoding changes, and a Dynadot that quotes the request.
    const KEY: &str = "dyn/key+5e3c=1f&z ü";
    let logs = LogCapture::default();
    let _capture = logs.install();
    let fake = FakeDynadot::start(KEY).await;
    fake.seed(POOL, FakeZone::with_foreign_records());
    let app = TestApp::with_dynadot_key(db, &fake.url, KEY, &[]);
    let token = app.reserve_token("acme").await;
    fake.set_echo_requests(true);
    fake.set_fault_rate(1.0);

    // Act
    let commit = app.commit("acme", &token, LB_IP).await;
    let history = app
        .get(&format!("/api/v1/pool/{POOL}/history?sub=acme"))
        .await;
    let stored: Option<String> =
        sqlx::query_scalar("select dns_last_error from pool_allocations where subdomain = 'acme'")
            .fetch_one(&app.db)
            .await
            .unwrap();

    // Assert: the echo reached PDM, and no form of the key went anywhere.
    assert_eq!(commit.status.as_u16(), 202, "{:?}", commit.body);
    let logged = logs.text();
    assert!(logged.contains("request: "), "the fake echoed: {logged}");
    let stored = stored.expect("the failure is recorded");
    assert!(
        stored.starts_with("dns-unavailable"),
        "a classified error: {stored}"
    );
    let encodings = [
        KEY.to_owned(),
        form_urlencoded::byte_serialize(KEY.as_bytes()).collect::<String>(),
        form_urlencoded::byte_serialize(KEY.as_bytes())
            .collect::<String>()
            .replace('+', "%20"),
        "key+5e3c".to_owned(),
        "key%2B5e3c".to_owned(),
    ];
    for leak in &encodings {
        for (place, text) in [
            ("log", &logged),
            ("history", &history.body.to_string()),
            ("row", &stored),
        ] {
            assert!(
                !text.contains(leak.as_str()),
                "{leak} in the {place}: {text}"
            );
        }
    }
}
