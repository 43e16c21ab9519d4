use http::{Method, StatusCode};
use pdm_tests::{POOL, TestApp, raw_request};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn release_frees_the_name_and_removes_exactly_its_records(db: PgPool) {
    // Arrange: two sovereigns; only one is released.
    let app = TestApp::new(db);
    app.allocate("acme").await;
    app.allocate("beta").await;

    // Act
    let reply = app.release("acme").await;

    // Assert
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body, json!({"freed": "acme.omani.works"}));
    let zone = app.dns().zone(POOL);
    assert_eq!(zone.len(), 6);
    assert!(zone.keys().all(|name| name.ends_with(".beta")), "{zone:?}");
    assert_eq!(app.check("acme").await.body["available"], true);
    assert_eq!(app.reserve("acme").await.status, StatusCode::CREATED);
}

contract_test!(release_takes_the_name_from_the_query_too, [], |app| {
    app.reserve_token("acme").await;

    let reply = app
        .call(
            Method::DELETE,
            &format!("/api/v1/pool/{POOL}/release?sub=acme"),
            None,
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["freed"], "acme.omani.works");
    assert_eq!(app.row_count().await, 0);
});

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn release_answers_202_when_dns_removal_fails_and_the_reconciler_finishes_it(db: PgPool) {
    // Arrange
    let app = TestApp::new(db);
    app.allocate("acme").await;
    app.dns().set_failing(true);

    // Act
    let reply = app.release("acme").await;

    // Assert: freed for the caller, but the name stays taken while its records stand.
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    assert_eq!(reply.body["freed"], "acme.omani.works");
    assert_eq!(app.dns().zone(POOL).len(), 6);
    assert_eq!(app.check("acme").await.body["reason"], "releasing-state");
    assert_eq!(app.reserve("acme").await.status, StatusCode::CONFLICT);
    let list = app.get(&format!("/api/v1/pool/{POOL}/list")).await;
    assert_eq!(list.body["allocations"], json!([]));

    // Act: DNS recovers, a retry of the release converges at once.
    app.dns().set_failing(false);
    let retry = app.release("acme").await;

    // Assert
    assert_eq!(retry.status, StatusCode::OK);
    assert!(app.dns().zone(POOL).is_empty());
    assert_eq!(app.row_count().await, 0);
    assert_eq!(app.check("acme").await.body["available"], true);
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_pending_release_is_finished_by_the_reconciler(db: PgPool) {
    let app = TestApp::new(db);
    app.allocate("acme").await;
    app.dns().set_failing(true);
    assert_eq!(app.release("acme").await.status, StatusCode::ACCEPTED);
    app.dns().set_failing(false);
    app.make_pending_due().await;

    let report = app.pdm().maintain().await.unwrap();

    assert_eq!(report.dns_synced, 1);
    assert!(app.dns().zone(POOL).is_empty());
    assert_eq!(app.row_count().await, 0);
}

contract_test!(release_refusals_follow_the_contract, [], |app| {
    app.reserve_token("acme").await;
    let uri = format!("/api/v1/pool/{POOL}/release");
    let cases: [(String, Option<&str>, u16, &str); 6] = [
        (format!("{uri}?sub=absent"), None, 404, "not-found"),
        (
            uri.clone(),
            Some(r#"{"subdomain":"absent"}"#),
            404,
            "not-found",
        ),
        (uri.clone(), None, 400, "bad-request"),
        (uri.clone(), Some("{oops"), 400, "bad-request"),
        (
            format!("{uri}?sub=beta"),
            Some(r#"{"subdomain":"acme"}"#),
            400,
            "bad-request",
        ),
        (format!("{uri}?sub=-acme"), None, 422, "invalid-format"),
    ];

    for (uri, body, status, code) in cases {
        let request = raw_request(Method::DELETE, &uri, body.unwrap_or_default(), &[]);

        let reply = app.send(request).await;

        assert_eq!(
            reply.status.as_u16(),
            status,
            "{uri} {body:?}: {:?}",
            reply.body
        );
        assert_eq!(reply.error(), code, "{uri} {body:?}");
    }
    let unsupported = app
        .call(
            Method::DELETE,
            "/api/v1/pool/example.com/release?sub=acme",
            None,
        )
        .await;
    assert_eq!(unsupported.error(), "unsupported-pool");
    assert_eq!(app.row_count().await, 1, "no refusal may delete anything");
});

contract_test!(release_with_a_token_needs_the_holders_token, |app| {
    // Arrange: one reservation and one allocation.
    let reserved = app.reserve_token("held").await;
    let committed = app.reserve_token("live").await;
    assert_eq!(
        app.commit("live", &committed, pdm_tests::LB_IP)
            .await
            .status,
        StatusCode::OK
    );
    let uri = format!("/api/v1/pool/{POOL}/release");
    let release = |sub: &str, token: &str| {
        app.call(
            Method::DELETE,
            &uri,
            Some(json!({"subdomain": sub, "reservationToken": token})),
        )
    };
    let stranger = uuid::Uuid::new_v4().to_string();

    // Act + Assert: a wrong or malformed token frees nothing.
    for (sub, token) in [
        ("held", stranger.as_str()),
        ("live", stranger.as_str()),
        ("live", "nope"),
    ] {
        let refused = release(sub, token).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{sub} {token}");
        assert_eq!(refused.error(), "token-mismatch", "{sub} {token}");
    }
    assert_eq!(app.row_count().await, 2);
    assert_eq!(
        release("absent", &stranger).await.status,
        StatusCode::NOT_FOUND
    );

    // The holders' tokens free both.
    assert_eq!(release("held", &reserved).await.status, StatusCode::OK);
    assert_eq!(release("live", &committed).await.status, StatusCode::OK);
    assert_eq!(app.row_count().await, 0);
});
