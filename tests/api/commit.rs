use http::{Method, StatusCode};
use pdm_tests::{CONSOLE_IP, LB_IP, POOL, TestApp};
use serde_json::json;
use sqlx::PgPool;

const SOVEREIGN_NAMES: [&str; 6] = [
    "*.acme",
    "admin.acme",
    "api.acme",
    "console.acme",
    "gitea.acme",
    "harbor.acme",
];

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn commit_activates_the_row_and_writes_the_six_records(db: PgPool) {
    // Arrange
    let app = TestApp::new(db);
    let token = app.reserve_token("acme").await;

    // Act
    let reply = app.commit("acme", &token, LB_IP).await;

    // Assert
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let body = &reply.body;
    assert_eq!(body["state"], "active");
    assert_eq!(body["sovereignFQDN"], "acme.omani.works");
    assert_eq!(body["loadBalancerIP"], LB_IP);
    assert_eq!(body["createdBy"], "tests");
    assert!(body["reservedAt"].is_string());
    assert!(
        body.get("expiresAt").is_none(),
        "an active allocation has no deadline"
    );
    assert!(
        body.get("reservationToken").is_none(),
        "the token is only in the reserve reply"
    );
    let zone = app.dns().zone(POOL);
    let names: Vec<&str> = zone.keys().map(String::as_str).collect();
    assert_eq!(names, SOVEREIGN_NAMES);
    assert!(zone.values().all(|ip| ip.to_string() == LB_IP));
    assert_eq!(app.check("acme").await.body["reason"], "active-state");
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn commit_answers_202_when_dns_fails_and_the_row_is_active_anyway(db: PgPool) {
    let app = TestApp::new(db);
    let token = app.reserve_token("acme").await;
    app.dns().set_failing(true);

    let reply = app.commit("acme", &token, LB_IP).await;

    assert_eq!(reply.status, StatusCode::ACCEPTED);
    assert_eq!(reply.body["state"], "active");
    let last_error = reply.body["dns"]["lastError"].as_str().unwrap();
    assert!(last_error.starts_with("dns-unavailable: "), "{last_error}");
    assert!(
        !last_error.contains("in-memory"),
        "PDM's words, never the provider's"
    );
    assert!(app.dns().zone(POOL).is_empty());
    assert_eq!(app.check("acme").await.body["reason"], "active-state");
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_pending_commit_is_published_by_the_reconciler(db: PgPool) {
    let app = TestApp::new(db);
    let token = app.reserve_token("acme").await;
    app.dns().set_failing(true);
    assert_eq!(
        app.commit("acme", &token, LB_IP).await.status,
        StatusCode::ACCEPTED
    );
    app.dns().set_failing(false);

    let early = app.pdm().maintain().await.unwrap();
    app.make_pending_due().await;
    let due = app.pdm().maintain().await.unwrap();

    assert_eq!(
        early.dns_synced, 0,
        "a failed change waits for its retry time"
    );
    assert_eq!(due.dns_synced, 1);
    assert_eq!(app.dns().zone(POOL).len(), 6);
    let again = app.commit("acme", &token, LB_IP).await;
    assert_eq!(again.status, StatusCode::OK, "nothing is owed any more");
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn commit_after_release_is_not_found(db: PgPool) {
    let app = TestApp::new(db);
    let token = app.reserve_token("acme").await;
    assert_eq!(
        app.commit("acme", &token, LB_IP).await.status,
        StatusCode::OK
    );
    app.dns().set_failing(true);
    assert_eq!(app.release("acme").await.status, StatusCode::ACCEPTED);

    let late = app.commit("acme", &token, LB_IP).await;

    assert_eq!(
        late.status,
        StatusCode::NOT_FOUND,
        "a releasing name is gone for its owner"
    );
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn commit_retried_with_the_same_token_answers_the_same_success(db: PgPool) {
    // Arrange: the first attempt's DNS write failed (202).
    let app = TestApp::new(db);
    let token = app.reserve_token("acme").await;
    app.dns().set_failing(true);
    let first = app.commit("acme", &token, LB_IP).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    app.dns().set_failing(false);

    // Act
    let retry = app.commit("ACME", &token, LB_IP).await;
    let again = app.commit("acme", &token, LB_IP).await;

    // Assert: the retry writes DNS, answers 200 and the same allocation, now synced.
    assert_eq!(retry.status, StatusCode::OK, "{:?}", retry.body);
    assert_eq!(first.body["dns"]["state"], "pending");
    assert_eq!(retry.body["dns"], json!({"state": "synced", "attempts": 0}));
    assert_eq!(without_dns(&retry.body), without_dns(&first.body));
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, retry.body);
    assert_eq!(app.dns().zone(POOL).len(), 6);
}

fn without_dns(allocation: &serde_json::Value) -> serde_json::Value {
    let mut allocation = allocation.clone();
    allocation.as_object_mut().unwrap().remove("dns");
    allocation
}

/// What catalyst-api does with a 202: follow the allocation until DNS holds it.
#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_202_is_followed_to_synced_and_a_release_to_gone(db: PgPool) {
    // Arrange: DNS refuses the first attempt.
    let app = TestApp::new(db);
    let token = app.reserve_token("acme").await;
    app.dns().set_failing(true);
    let allocation = format!("/api/v1/pool/{POOL}/allocation?sub=acme");
    let history = format!("/api/v1/pool/{POOL}/history?sub=acme");

    // Act + Assert: the 202 says what is owed.
    let committed = app.commit("acme", &token, LB_IP).await;
    assert_eq!(committed.status, StatusCode::ACCEPTED);
    let dns = &committed.body["dns"];
    assert_eq!(dns["state"], "pending");
    assert_eq!(dns["attempts"], 1);
    assert!(dns["retryAt"].is_string(), "{dns}");
    let pending = app.get(&allocation).await;
    assert_eq!(pending.status, StatusCode::OK);
    assert_eq!(pending.body, committed.body);
    assert!(pending.body.get("reservationToken").is_none());

    // Once DNS answers again, the reconciler writes it and the allocation says so.
    app.dns().set_failing(false);
    app.converge().await;
    let synced = app.get(&allocation).await;
    assert_eq!(
        synced.body["dns"],
        json!({"state": "synced", "attempts": 0})
    );
    let listed = app.get(&format!("/api/v1/pool/{POOL}/list")).await;
    assert_eq!(listed.body["allocations"][0], synced.body);
    assert_eq!(app.get(&history).await.body["allocation"], synced.body);

    // A release DNS refuses stays visible, as releasing, until its records are gone.
    app.dns().set_failing(true);
    assert_eq!(app.release("acme").await.status, StatusCode::ACCEPTED);
    let releasing = app.get(&allocation).await;
    assert_eq!(releasing.status, StatusCode::OK);
    assert!(releasing.body["releasingSince"].is_string());
    assert_eq!(releasing.body["dns"]["state"], "pending");
    app.dns().set_failing(false);
    app.converge().await;
    let gone = app.get(&allocation).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.error(), "not-found");
    assert!(app.get(&history).await.body.get("allocation").is_none());
}

contract_test!(
    the_allocation_answers_one_name_without_its_token_behind_the_bearer_guard,
    ["PDM_API_TOKENS" = "catalyst=alloc-token"],
    |app| {
        // Arrange
        let bearer = [(http::header::AUTHORIZATION, "Bearer alloc-token")];
        let get = |sub: &str| {
            pdm_tests::raw_request(
                Method::GET,
                &format!("/api/v1/pool/{POOL}/allocation?sub={sub}"),
                "",
                &bearer,
            )
        };
        let reserved = app
            .send(pdm_tests::raw_request(
                Method::POST,
                &format!("/api/v1/pool/{POOL}/reserve"),
                r#"{"subdomain":"acme"}"#,
                &bearer,
            ))
            .await;
        assert_eq!(reserved.status, StatusCode::CREATED);

        // Act
        let found = app.send(get("ACME")).await;
        let missing = app.send(get("nobody")).await;
        let malformed = app.send(get("-x")).await;
        let anonymous = app
            .get(&format!("/api/v1/pool/{POOL}/allocation?sub=acme"))
            .await;

        // Assert
        assert_eq!(found.status, StatusCode::OK, "{:?}", found.body);
        assert_eq!(found.body["subdomain"], "acme");
        assert_eq!(found.body["state"], "reserved");
        assert_eq!(found.body["expiresAt"], reserved.body["expiresAt"]);
        assert_eq!(found.body["dns"], json!({"state": "synced", "attempts": 0}));
        assert!(found.body.get("reservationToken").is_none());
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_eq!(missing.error(), "not-found");
        assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(malformed.error(), "invalid-format");
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    }
);

contract_test!(commit_refusals_follow_the_contract, [], |app| {
    // Arrange
    let held = app.reserve_token("held").await;
    let lapsed = app.reserve_token("lapsed").await;
    app.lapse("lapsed").await;
    let active = app.reserve_token("active").await;
    assert_eq!(
        app.commit("active", &active, LB_IP).await.status,
        StatusCode::OK
    );
    let other_token = uuid::Uuid::new_v4().to_string();
    let cases: [(&str, &str, &str, StatusCode, &str); 8] = [
        (
            "absent",
            &other_token,
            LB_IP,
            StatusCode::NOT_FOUND,
            "not-found",
        ),
        (
            "held",
            &other_token,
            LB_IP,
            StatusCode::FORBIDDEN,
            "token-mismatch",
        ),
        (
            "held",
            "not-a-uuid",
            LB_IP,
            StatusCode::FORBIDDEN,
            "token-mismatch",
        ),
        ("lapsed", &lapsed, LB_IP, StatusCode::GONE, "expired"),
        (
            "active",
            &other_token,
            LB_IP,
            StatusCode::CONFLICT,
            "already-active",
        ),
        (
            "active",
            &active,
            "94.130.0.99",
            StatusCode::CONFLICT,
            "already-active",
        ),
        (
            "held",
            &held,
            "not-an-ip",
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing-lb-ip",
        ),
        (
            "held",
            &held,
            "0.0.0.0",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-format",
        ),
    ];

    for (sub, token, ip, status, code) in cases {
        // Act
        let reply = app.commit(sub, token, ip).await;

        // Assert
        let case = format!("{sub} with token {token} and ip {ip}");
        assert_eq!(reply.status, status, "{case}: {:?}", reply.body);
        assert_eq!(reply.error(), code, "{case}");
    }
    assert_eq!(app.check("held").await.body["reason"], "reserved-state");
});

contract_test!(
    commit_validates_the_request_before_touching_the_row,
    [],
    |app| {
        let token = app.reserve_token("acme").await;
        let uri = format!("/api/v1/pool/{POOL}/commit");
        let cases = [
            (
                json!({"subdomain": "acme", "reservationToken": token}),
                422,
                "missing-lb-ip",
            ),
            (
                json!({"subdomain": "acme", "reservationToken": token, "loadBalancerIP": ""}),
                422,
                "missing-lb-ip",
            ),
            (
                json!({"subdomain": "acme", "reservationToken": token, "loadBalancerIP": "ff02::1"}),
                422,
                "invalid-format",
            ),
            (
                json!({"subdomain": "acme!", "reservationToken": token, "loadBalancerIP": LB_IP}),
                422,
                "invalid-format",
            ),
            (
                json!({"subdomain": "acme", "reservationToken": token, "loadBalancerIP": LB_IP, "sovereignFQDN": "bad name"}),
                422,
                "invalid-format",
            ),
            (
                json!({"subdomain": "acme", "loadBalancerIP": LB_IP}),
                400,
                "bad-request",
            ),
            (
                json!({"reservationToken": token, "loadBalancerIP": LB_IP}),
                400,
                "bad-request",
            ),
        ];

        for (body, status, code) in cases {
            let reply = app.call(Method::POST, &uri, Some(body.clone())).await;

            assert_eq!(reply.status.as_u16(), status, "{body}: {:?}", reply.body);
            assert_eq!(reply.error(), code, "{body}");
        }
        let unsupported = app
        .call(
            Method::POST,
            "/api/v1/pool/example.com/commit",
            Some(json!({"subdomain": "acme", "reservationToken": token, "loadBalancerIP": LB_IP})),
        )
        .await;
        assert_eq!(unsupported.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(unsupported.error(), "unsupported-pool");
        assert_eq!(app.check("acme").await.body["reason"], "reserved-state");
    }
);

contract_test!(
    commit_of_an_ipv6_load_balancer_is_stored_canonically,
    [],
    |app| {
        let token = app.reserve_token("acme").await;

        let reply = app.commit("acme", &token, "2A01:4F8:0:0::1").await;

        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body["loadBalancerIP"], "2a01:4f8::1");
        let retry = app.commit("acme", &token, "2a01:4f8::1").await;
        assert_eq!(
            retry.status,
            StatusCode::OK,
            "the same address in another spelling"
        );
    }
);

contract_test!(
    commit_defaults_the_sovereign_fqdn_to_the_allocated_name,
    [],
    |app| {
        let token = app.reserve_token("acme").await;

        let reply = app
        .call(
            Method::POST,
            &format!("/api/v1/pool/{POOL}/commit"),
            Some(json!({"subdomain": "acme", "reservationToken": token, "loadBalancerIP": LB_IP})),
        )
        .await;

        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body["sovereignFQDN"], "acme.omani.works");
    }
);

/// Addresses no public zone should carry, each of which PDM once published.
const NEVER_PUBLISHED: [&str; 13] = [
    "127.0.0.1",
    "::1",
    "169.254.169.254",
    "fe80::1",
    "255.255.255.255",
    "240.0.0.1",
    "192.0.2.1",
    "::ffff:127.0.0.1",
    "::ffff:0.0.0.0",
    "::ffff:224.0.0.1",
    "10.1.2.3",
    "100.64.0.1",
    "fd00::1",
];

contract_test!(commit_publishes_only_globally_routable_unicast, |app| {
    let token = app.reserve_token("acme").await;

    for ip in NEVER_PUBLISHED {
        let reply = app.commit("acme", &token, ip).await;

        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{ip}: {:?}",
            reply.body
        );
        assert_eq!(reply.error(), "invalid-format", "{ip}");
        assert!(
            reply.body["detail"]
                .as_str()
                .unwrap()
                .contains("loadBalancerIP"),
            "{ip}"
        );
    }
    assert_eq!(app.check("acme").await.body["reason"], "reserved-state");
    let mapped = app.commit("acme", &token, &format!("::ffff:{LB_IP}")).await;
    assert_eq!(mapped.status, StatusCode::OK, "{:?}", mapped.body);
    assert_eq!(
        mapped.body["loadBalancerIP"], LB_IP,
        "IPv4-mapped IPv6 is published as IPv4"
    );
});

contract_test!(
    private_load_balancers_are_published_when_the_operator_allows_them,
    ["PDM_ALLOW_PRIVATE_LB" = "true"],
    |app| {
        let token = app.reserve_token("acme").await;
        let loopback = app.commit("acme", &token, "127.0.0.1").await;
        assert_eq!(loopback.error(), "invalid-format", "loopback stays refused");

        let private = app.commit("acme", &token, "10.1.2.3").await;

        assert_eq!(private.status, StatusCode::OK, "{:?}", private.body);
        assert_eq!(private.body["loadBalancerIP"], "10.1.2.3");
    }
);

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_console_load_balancer_takes_the_console_hosts_and_release_removes_them_all(db: PgPool) {
    // Arrange
    let app = TestApp::new(db);

    // Act
    app.allocate_with_console("acme").await;
    let zone = app.dns().zone(POOL);
    let listed = app.get(&format!("/api/v1/pool/{POOL}/list")).await;
    let released = app.release("acme").await;

    // Assert: console and api at the gateway, the rest at the load balancer; all gone after.
    for (name, ip) in &zone {
        let expected = if ["console.acme", "api.acme"].contains(&name.as_str()) {
            CONSOLE_IP
        } else {
            LB_IP
        };
        assert_eq!(ip.to_string(), expected, "{name}");
    }
    assert_eq!(zone.len(), 6);
    let listed = &listed.body["allocations"][0];
    assert_eq!(listed["consoleLoadBalancerIP"], CONSOLE_IP, "{listed}");
    assert_eq!(released.status, StatusCode::OK);
    assert!(app.dns().zone(POOL).is_empty());
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn console_hosts_are_configurable_and_the_console_address_follows_the_lb_rules(db: PgPool) {
    // Arrange
    let app = TestApp::with_config(db, &pdm_tests::config(&[("PDM_CONSOLE_HOSTS", "console")]));
    let token = app.reserve_token("beta").await;
    let uri = format!("/api/v1/pool/{POOL}/commit");
    let commit = |console: &'static str| {
        app.call(
            Method::POST,
            &uri,
            Some(json!({
                "subdomain": "beta",
                "reservationToken": token,
                "loadBalancerIP": LB_IP,
                "consoleLoadBalancerIP": console,
            })),
        )
    };

    // Act
    let private = commit("10.0.0.7").await;
    let garbage = commit("console").await;
    let committed = commit(CONSOLE_IP).await;

    // Assert
    for refused in [&private, &garbage] {
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(refused.error(), "invalid-format");
        assert!(
            refused.body["detail"]
                .as_str()
                .unwrap()
                .contains("consoleLoadBalancerIP")
        );
    }
    assert_eq!(committed.status, StatusCode::OK, "{:?}", committed.body);
    let zone = app.dns().zone(POOL);
    assert_eq!(zone["console.beta"].to_string(), CONSOLE_IP);
    assert_eq!(zone["api.beta"].to_string(), LB_IP);
}
