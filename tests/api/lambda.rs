//! The function binaries on their Lambda path, driven through a fake Lambda Runtime API with
//! real event payloads, and the sweeper on its three schedules (Lambda, `--once`, POST).

use http::StatusCode;
use pdm_tests::fake_lambda::FakeLambdaRuntime;
use pdm_tests::served::{Process, database_url};
use pdm_tests::{POOL, row_count, seed_reservations};
use serde_json::{Value, json};
use sqlx::PgPool;

/// A function process on its Lambda path, answering the fake runtime's events.
async fn on_lambda(function: &str, db: &PgPool) -> (FakeLambdaRuntime, Process) {
    let runtime = FakeLambdaRuntime::start().await;
    let mut env = runtime.env(function);
    env.push(("PDM_DATABASE_URL".to_owned(), database_url(db)));
    let process = Process::spawn(function, &[], &env);
    (runtime, process)
}

/// The JSON body of an API Gateway v2 response document.
fn body_of(response: &Value) -> Value {
    let text = response["body"].as_str().expect("a text body, not base64");
    assert_eq!(response["isBase64Encoded"], false);
    serde_json::from_str(text).unwrap()
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn functions_answer_function_url_and_staged_api_gateway_events(db: PgPool) {
    // Arrange
    let (reserve_runtime, _reserve) = on_lambda("pdm-reserve", &db).await;
    let (check_runtime, _check) = on_lambda("pdm-check", &db).await;
    let reserve_event: Value =
        serde_json::from_str(include_str!("fixtures/function_url_reserve.json")).unwrap();
    let check_event: Value =
        serde_json::from_str(include_str!("fixtures/apigw_v2_check_prod_stage.json")).unwrap();

    // Act: reserve through a function URL, then check behind the `prod` stage.
    let reserved = reserve_runtime.invoke(reserve_event.clone()).await.unwrap();
    let check = check_runtime.invoke(check_event).await.unwrap();
    let again = reserve_runtime.invoke(reserve_event).await.unwrap();

    // Assert
    assert_eq!(reserved["statusCode"], 201, "{reserved}");
    assert_eq!(reserved["headers"]["content-type"], "application/json");
    let allocation = body_of(&reserved);
    assert_eq!(allocation["subdomain"], "acme");
    assert_eq!(allocation["createdBy"], "catalyst-api/user@x");
    assert!(allocation["reservationToken"].is_string());
    assert_eq!(check["statusCode"], 200, "{check}");
    assert_eq!(
        body_of(&check),
        json!({"available": false, "reason": "reserved-state",
               "detail": "acme.omani.works is held by a reservation", "fqdn": "acme.omani.works"})
    );
    assert_eq!(again["statusCode"], 409);
    assert_eq!(body_of(&again)["error"], "conflict");
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_function_answers_other_routes_with_the_contracts_404(db: PgPool) {
    let (runtime, _check) = on_lambda("pdm-check", &db).await;
    let mut event: Value =
        serde_json::from_str(include_str!("fixtures/function_url_reserve.json")).unwrap();
    event["requestContext"]["http"]["method"] = json!("GET");
    event["rawPath"] = json!("/api/v1/pool/omani.works/list");

    let answer = runtime.invoke(event).await.unwrap();

    assert_eq!(answer["statusCode"], 404);
    assert_eq!(body_of(&answer)["error"], "not-found");
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn the_sweeper_runs_once_per_eventbridge_scheduled_event(db: PgPool) {
    // Arrange
    seed_reservations(&db, "stale", 1, true).await;
    let (runtime, _sweeper) = on_lambda("pdm-sweeper", &db).await;
    let event: Value =
        serde_json::from_str(include_str!("fixtures/eventbridge_scheduled_event.json")).unwrap();

    // Act
    let first = runtime.invoke(event.clone()).await.unwrap();
    let second = runtime.invoke(event).await.unwrap();

    // Assert
    assert_eq!(first["swept"], 1, "{first}");
    assert_eq!(first["dnsPending"], 0);
    assert_eq!(second["swept"], 0, "{second}");
    assert_eq!(row_count(&db).await, 0);
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn the_sweeper_runs_once_from_a_cronjob(db: PgPool) {
    seed_reservations(&db, "stale", 1, true).await;
    let env = [("PDM_DATABASE_URL".to_owned(), database_url(&db))];

    let status = Process::spawn("pdm-sweeper", &["--once"], &env)
        .exit_status()
        .await;

    assert!(status.success(), "{status}");
    assert_eq!(row_count(&db).await, 0);
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn the_sweeper_runs_on_a_pingsource_post_and_refuses_other_methods(db: PgPool) {
    seed_reservations(&db, "stale", 1, true).await;
    let env = [("PDM_DATABASE_URL".to_owned(), database_url(&db))];
    let sweeper = Process::start("pdm-sweeper", &env).await;
    let client = reqwest::Client::new();

    // PingSource posts a CloudEvent to `/`.
    let posted = client
        .post(format!("{}/", sweeper.base))
        .header("ce-type", "dev.knative.sources.ping")
        .header("content-type", "application/json")
        .body(r#"{"source":"pdm"}"#)
        .send()
        .await
        .unwrap();
    let fetched = client
        .get(format!("{}/", sweeper.base))
        .send()
        .await
        .unwrap();

    assert_eq!(posted.status(), StatusCode::OK);
    let report: Value = posted.json().await.unwrap();
    assert_eq!(report["swept"], 1);
    assert_eq!(fetched.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[sqlx::test(migrations = false)]
async fn migrate_applies_the_schema_as_a_one_off_job(db: PgPool) {
    let env = [("PDM_DATABASE_URL".to_owned(), database_url(&db))];

    let first = Process::spawn("pdm-migrate", &["--once"], &env)
        .exit_status()
        .await;
    let second = Process::spawn("pdm-migrate", &["--once"], &env)
        .exit_status()
        .await;

    assert!(first.success() && second.success());
    let tables: i64 = sqlx::query_scalar(
        "select count(*) from information_schema.tables
         where table_name in ('pool_allocations', 'pool_zones')",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(tables, 2);
}

/// Stops `cargo lambda watch` (SIGKILL: it does not stop on SIGTERM). The functions it ran
/// exit on their own once their runtime API is gone.
struct Watch(std::process::Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn cargo_lambda_watch_serves_the_functions_end_to_end(db: PgPool) {
    // Arrange: the real local Lambda emulator, on the workspace's built functions.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let env = format!("PDM_DATABASE_URL={},PDM_LOG_LEVEL=warn", database_url(&db));
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let watch = std::process::Command::new("cargo")
        .args([
            "lambda",
            "watch",
            "--ignore-changes",
            "--invoke-address",
            "127.0.0.1",
        ])
        .args(["--invoke-port", &port.to_string(), "--env-var", &env])
        .current_dir(workspace)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("cargo lambda is installed (scripts/test installs it)");
    let _watch = Watch(watch);
    let base = format!("http://127.0.0.1:{port}/lambda-url");
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            started.elapsed().as_secs() < 120,
            "cargo lambda watch never listened"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Act
    let reserved = client
        .post(format!("{base}/pdm-reserve/api/v1/pool/{POOL}/reserve"))
        .json(&json!({"subdomain": "watched"}))
        .send()
        .await
        .unwrap();
    let reserved_status = reserved.status();
    let check: Value = client
        .get(format!(
            "{base}/pdm-check/api/v1/pool/{POOL}/check?sub=watched"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // Assert
    assert_eq!(reserved_status, StatusCode::CREATED);
    assert_eq!(check["reason"], "reserved-state", "{check}");
}
