use http::StatusCode;
use pdm_tests::{POOL, TestApp};
use serde_json::Value;
use sqlx::PgPool;

fn subdomains(body: &Value) -> Vec<&str> {
    body["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["subdomain"].as_str().unwrap())
        .collect()
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn list_returns_live_allocations_by_subdomain_without_tokens(db: PgPool) {
    // Arrange
    let app = TestApp::new(db);
    app.allocate("zeta").await;
    app.reserve_token("alpha").await;
    app.reserve_token("a-b").await;
    app.reserve_token("gone").await;
    app.lapse("gone").await;

    // Act
    let reply = app.get(&format!("/api/v1/pool/{POOL}/list")).await;

    // Assert
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["poolDomain"], POOL);
    assert_eq!(subdomains(&reply.body), ["a-b", "alpha", "zeta"]);
    assert!(reply.body.get("next").is_none());
    for allocation in reply.body["allocations"].as_array().unwrap() {
        assert!(allocation.get("reservationToken").is_none(), "{allocation}");
    }
    let zeta = &reply.body["allocations"][2];
    assert_eq!(zeta["state"], "active");
    assert_eq!(zeta["loadBalancerIP"], pdm_tests::LB_IP);
    assert!(zeta.get("expiresAt").is_none());
    let alpha = &reply.body["allocations"][1];
    assert_eq!(alpha["state"], "reserved");
    assert!(alpha["expiresAt"].is_string());
    assert!(alpha.get("loadBalancerIP").is_none());
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn list_pages_with_limit_after_and_next_until_the_end(db: PgPool) {
    // Arrange
    let app = TestApp::new(db);
    let names = ["a1", "b2", "c3", "d4", "e5"];
    for name in names {
        app.reserve_token(name).await;
    }

    // Act: follow `next` from the first page to the last.
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut uri = format!("/api/v1/pool/{POOL}/list?limit=2");
    loop {
        let reply = app.get(&uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}");
        pages += 1;
        seen.extend(subdomains(&reply.body).into_iter().map(str::to_owned));
        match reply.body["next"].as_str() {
            Some(next) => uri = format!("/api/v1/pool/{POOL}/list?limit=2&after={next}"),
            None => break,
        }
    }

    // Assert
    assert_eq!(seen, names);
    assert_eq!(pages, 3);
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn list_of_an_exactly_full_page_has_no_next(db: PgPool) {
    let app = TestApp::new(db);
    app.reserve_token("a1").await;
    app.reserve_token("b2").await;

    let reply = app.get(&format!("/api/v1/pool/{POOL}/list?limit=2")).await;

    assert_eq!(subdomains(&reply.body), ["a1", "b2"]);
    assert!(reply.body.get("next").is_none());
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn list_refuses_bad_parameters_and_pools(db: PgPool) {
    let app = TestApp::new(db);
    let cases = [
        (
            format!("/api/v1/pool/{POOL}/list?limit=0"),
            400,
            "bad-request",
        ),
        (
            format!("/api/v1/pool/{POOL}/list?limit=1001"),
            400,
            "bad-request",
        ),
        (
            format!("/api/v1/pool/{POOL}/list?limit=ten"),
            400,
            "bad-request",
        ),
        (
            "/api/v1/pool/example.com/list".to_owned(),
            422,
            "unsupported-pool",
        ),
    ];

    for (uri, status, code) in cases {
        let reply = app.get(&uri).await;

        assert_eq!(reply.status.as_u16(), status, "{uri}");
        assert_eq!(reply.error(), code, "{uri}");
    }
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn list_shows_only_its_own_pool(db: PgPool) {
    let app = TestApp::new(db);
    app.reserve_token("acme").await;

    let reply = app.get("/api/v1/pool/OPENOVA.IO/list").await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["poolDomain"], "openova.io");
    assert!(subdomains(&reply.body).is_empty());
}
