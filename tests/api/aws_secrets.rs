//! On Lambda, the functions read their secrets from AWS Secrets Manager once per cold start
//! (`PDM_SECRET_ID`), through aws-config and the SDK. Tested against moto's server mode: real
//! SDK calls against a real emulator, with the function as a real process whose environment
//! holds no secret at all.

use http::StatusCode;
use pdm_tests::POOL;
use pdm_tests::moto::Moto;
use pdm_tests::served::{Process, database_url};
use serde_json::json;
use sqlx::PgPool;

const TOKEN: &str = "secret-token-5be0d1";
/// Stands in a malformed secret: it must never reach a log.
const MARKER: &str = "hunter2-4c9a7e";

fn with_secret(moto_env: Vec<(String, String)>, secret_id: &str) -> Vec<(String, String)> {
    let mut env = moto_env;
    env.push(("PDM_SECRET_ID".to_owned(), secret_id.to_owned()));
    env
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_function_takes_its_database_and_tokens_from_the_secret_once_per_cold_start(db: PgPool) {
    // Arrange: the database URL and the tokens exist only in the secret.
    let moto = Moto::start().await;
    let secret = json!({
        "PDM_DATABASE_URL": database_url(&db),
        "PDM_API_TOKENS": format!("catalyst={TOKEN}"),
    });
    let arn = moto.create_secret("pdm/test", &secret.to_string()).await;
    let env = with_secret(moto.env(None), &arn);

    moto.start_recording().await;

    // Act
    let function = Process::start("pdm-list", &env).await;
    let calls = moto.recorded_operations().await;
    drop(moto); // read once at start: no request needs Secrets Manager
    let client = reqwest::Client::new();
    let list = format!("{}/api/v1/pool/{POOL}/list", function.base);
    let anonymous = client.get(&list).send().await.unwrap();
    let authorized = client.get(&list).bearer_auth(TOKEN).send().await.unwrap();

    // Assert: one round trip at start, and the secret's values in force.
    assert_eq!(calls, ["secretsmanager.GetSecretValue"]);
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(authorized.status(), StatusCode::OK);
    let body: serde_json::Value = authorized.json().await.unwrap();
    assert_eq!(body["allocations"], json!([]));
}

#[tokio::test]
async fn a_missing_a_malformed_or_a_denied_secret_stops_the_start_naming_only_the_secret() {
    // Arrange: one moto that checks nothing, and one that enforces IAM once a secret and a
    // user without any policy exist.
    let moto = Moto::start().await;
    let malformed = moto
        .create_secret(
            "pdm/malformed",
            &format!(r#"{{"PDM_DATABASE_URL": ["{MARKER}"]}}"#),
        )
        .await;
    let enforcing = Moto::enforcing_iam_after(3).await;
    let unreadable = enforcing
        .create_secret("pdm/denied", &json!({"PDM_API_TOKENS": MARKER}).to_string())
        .await;
    let nobody = enforcing.user_without_permissions("pdm-nobody").await;
    let cases = [
        (moto.env(None), "pdm/missing", "does not exist"),
        (moto.env(None), malformed.as_str(), "malformed"),
        (enforcing.env(Some(&nobody)), unreadable.as_str(), "denied"),
    ];

    for (aws_env, secret_id, expected) in cases {
        // Act
        let env = with_secret(aws_env, secret_id);
        let (status, logs) = Process::run_to_exit("pdm-health", &env).await;

        // Assert
        assert_eq!(status.code(), Some(2), "{secret_id}: {logs}");
        assert!(logs.contains(expected), "{secret_id}: {logs}");
        assert!(
            logs.contains(secret_id),
            "the error names the secret: {logs}"
        );
        assert!(!logs.contains(MARKER), "no value is echoed: {logs}");
        assert!(
            !logs.contains(&nobody.secret_access_key),
            "no credential is echoed: {logs}"
        );
    }
}

#[tokio::test]
async fn a_function_needs_postgresql_and_the_combined_server_takes_no_secret_id() {
    // A function has no embedded store (its processes share one database); the combined
    // server reads its secrets from the environment, so a secret id there is a mistake.
    let (function, function_logs) = Process::run_to_exit("pdm-health", &[]).await;
    let secret_id = vec![("PDM_SECRET_ID".to_owned(), "pdm/server".to_owned())];
    let (server, server_logs) = Process::run_to_exit("pdm-server", &secret_id).await;

    assert_eq!(function.code(), Some(2), "{function_logs}");
    assert!(
        function_logs.contains("PDM_DATABASE_URL is not set"),
        "{function_logs}"
    );
    assert_eq!(server.code(), Some(2), "{server_logs}");
    assert!(
        server_logs.contains("PDM_SECRET_ID is read by the per-endpoint functions only"),
        "{server_logs}"
    );
}
