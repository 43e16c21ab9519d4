//! Credentials held in the database: made, used as Bearer and Basic, listed without their
//! secret, refused once revoked on every replica within the 5 s bound, and stored only as a
//! digest.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{Method, StatusCode, header};
use pdm_tests::{POOL, Reply, TestApp, config, raw_request};
use serde_json::{Value, json};
use sqlx::PgPool;

async fn call(
    app: &TestApp,
    method: Method,
    uri: &str,
    body: &Value,
    authorization: &str,
) -> Reply {
    let headers = [
        (header::CONTENT_TYPE, "application/json"),
        (header::AUTHORIZATION, authorization),
    ];
    app.send(raw_request(method, uri, &body.to_string(), &headers))
        .await
}

async fn create(app: &TestApp, body: Value) -> Reply {
    call(app, Method::POST, "/api/v1/tokens", &body, OPERATOR).await
}

/// The environment's `operate` credential of these tests.
const OPERATOR: &str = "Bearer t-ops";

/// `method uri` with no body, as the operator.
async fn operate(app: &TestApp, method: Method, uri: &str) -> Reply {
    call(app, method, uri, &json!({}), OPERATOR).await
}

contract_test!(
    stored_credentials_are_made_used_listed_and_revoked,
    [
        "PDM_API_TOKENS" = "ops=t-ops",
        "PDM_API_SCOPES" = "ops=operate"
    ],
    |app| {
        // Act
        let made = create(
            &app,
            json!({"name": "sov1", "scopes": ["allocate"], "quota": 2}),
        )
        .await;
        let again = create(&app, json!({"name": "sov1", "scopes": ["read"]})).await;
        let env_name = create(&app, json!({"name": "ops", "scopes": ["read"]})).await;
        let unknown = create(&app, json!({"name": "sov2", "scopes": ["root"]})).await;
        let secret = made.body["token"].as_str().unwrap_or_default().to_owned();
        let reserve_uri = format!("/api/v1/pool/{POOL}/reserve");
        let bearer = format!("Bearer {secret}");
        let basic = format!("Basic {}", STANDARD.encode(format!("sov1:{secret}")));
        let by_bearer = call(
            &app,
            Method::POST,
            &reserve_uri,
            &json!({"subdomain": "acme"}),
            &bearer,
        )
        .await;
        let by_basic = call(
            &app,
            Method::POST,
            &reserve_uri,
            &json!({"subdomain": "beta"}),
            &basic,
        )
        .await;
        let not_operate = call(&app, Method::GET, "/api/v1/tokens", &json!({}), &bearer).await;
        let listed = operate(&app, Method::GET, "/api/v1/tokens").await;
        let revoked = operate(&app, Method::DELETE, "/api/v1/tokens/sov1").await;
        let gone = operate(&app, Method::DELETE, "/api/v1/tokens/sov1").await;
        let stored_digest: bool = sqlx::query_scalar("select count(*) = 0 from api_credentials")
            .fetch_one(&app.db)
            .await
            .unwrap();

        // Assert
        assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
        assert!(secret.len() >= 40, "at least 128 bits: {secret}");
        assert_eq!(made.body["scopes"], json!(["allocate"]));
        assert_eq!(made.body["quota"], 2);
        again.assert_refused(StatusCode::CONFLICT, "name-taken");
        env_name.assert_refused(StatusCode::CONFLICT, "name-taken");
        unknown.assert_refused(StatusCode::UNPROCESSABLE_ENTITY, "invalid-format");
        assert_eq!(
            by_bearer.status,
            StatusCode::CREATED,
            "{:?}",
            by_bearer.body
        );
        assert_eq!(by_bearer.body["owner"], "sov1");
        assert_eq!(by_basic.status, StatusCode::CREATED, "{:?}", by_basic.body);
        not_operate.assert_refused(StatusCode::FORBIDDEN, "insufficient-scope");
        let listed_text = listed.body.to_string();
        assert!(listed_text.contains(r#""name":"sov1""#), "{listed_text}");
        assert!(listed_text.contains("lastUsedAt"), "{listed_text}");
        assert!(
            !listed_text.contains(&secret) && !listed_text.contains("digest"),
            "{listed_text}"
        );
        assert_eq!(revoked.status, StatusCode::OK, "{:?}", revoked.body);
        gone.assert_refused(StatusCode::NOT_FOUND, "not-found");
        assert!(stored_digest, "revoking deletes the row");
    }
);

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_revoked_credential_is_refused_by_every_replica_within_five_seconds(db: PgPool) {
    // Arrange: two replicas on one database; the second has just used the credential.
    let settings = config(&[
        ("PDM_API_TOKENS", "ops=t-ops"),
        ("PDM_API_SCOPES", "ops=operate"),
    ]);
    let first = TestApp::with_config(db.clone(), &settings);
    let second = TestApp::with_config(db.clone(), &settings);
    let made = create(&first, json!({"name": "sov1", "scopes": ["read"]})).await;
    let secret = made.body["token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {secret}");
    let list = format!("/api/v1/pool/{POOL}/list");
    let before = call(&second, Method::GET, &list, &json!({}), &bearer).await;
    let digest_only: bool = sqlx::query_scalar(
        "select digest = sha256(convert_to($1, 'UTF8')) from api_credentials where name = 'sov1'",
    )
    .bind(&secret)
    .fetch_one(&db)
    .await
    .unwrap();

    // Act
    operate(&first, Method::DELETE, "/api/v1/tokens/sov1").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = call(&second, Method::GET, &list, &json!({}), &bearer).await;

    // Assert
    assert_eq!(before.status, StatusCode::OK, "{:?}", before.body);
    after.assert_refused(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(
        digest_only,
        "the table holds the secret's SHA-256 digest, not the secret"
    );
}
