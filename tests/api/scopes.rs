//! Least privilege: every guarded route of the table needs its scope, and an `allocate`
//! credential changes only what it reserved. Generated from the route table, so a new route
//! cannot forget its scope.

use http::{Method, StatusCode, header};
use pdm_core::http::{Guard, ROUTES};
use pdm_core::scope::{Scope, Scopes};
use pdm_tests::{LB_IP, POOL, Reply, TestApp, raw_request};
use serde_json::{Value, json};

/// One credential per scope: its name, its token.
const CREDENTIALS: [(&str, &str, Scope); 4] = [
    ("reader", "t-read", Scope::Read),
    ("sov1", "t-allocate", Scope::Allocate),
    ("byo", "t-registrar", Scope::Registrar),
    ("ops", "t-operate", Scope::Operate),
];

async fn send(app: &TestApp, method: Method, uri: &str, body: &Value, token: &str) -> Reply {
    let bearer = format!("Bearer {token}");
    let headers = [
        (header::CONTENT_TYPE, "application/json"),
        (header::AUTHORIZATION, bearer.as_str()),
    ];
    app.send(raw_request(method, uri, &body.to_string(), &headers))
        .await
}

contract_test!(
    every_guarded_route_needs_its_scope,
    [
        "PDM_API_TOKENS" = "reader=t-read,sov1=t-allocate,byo=t-registrar,ops=t-operate",
        "PDM_API_SCOPES" = "reader=read,sov1=allocate,byo=registrar,ops=operate",
    ],
    |app| {
        let body = json!({"subdomain": "a1", "reservationToken": "x", "loadBalancerIP": "not-an-ip",
                          "sovereignFQDN": "a1.omani.works", "domain": "x.example", "token": "t"});
        for route in &ROUTES {
            let Guard::Scoped(needed) = route.guard else {
                continue;
            };
            let uri = route
                .path
                .replace("{domain}", POOL)
                .replace("{registrar}", "godaddy")
                + "?sub=a1";
            for (name, token, held) in CREDENTIALS {
                let reply = send(&app, route.method.clone(), &uri, &body, token).await;
                let allowed = Scopes::parse(held.as_str()).unwrap().allow(needed);
                let refused = reply.error() == "insufficient-scope";
                assert_eq!(refused, !allowed, "{name} on {route:?}: {:?}", reply.body);
                assert_ne!(reply.error(), "unauthorized", "{name} on {route:?}");
                if refused {
                    assert_eq!(reply.status, StatusCode::FORBIDDEN);
                    let challenge = reply.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
                    assert!(
                        challenge.contains(r#"error="insufficient_scope""#),
                        "{challenge}"
                    );
                    assert!(
                        challenge.contains(&format!(r#"scope="{needed}""#)),
                        "{challenge}"
                    );
                }
            }
        }
    }
);

async fn commit(app: &TestApp, sub: &str, reserved: &Reply, credential: &str) -> Reply {
    let token = reserved.body["reservationToken"]
        .as_str()
        .unwrap_or_default();
    let body = json!({"subdomain": sub, "reservationToken": token, "loadBalancerIP": LB_IP});
    let uri = format!("/api/v1/pool/{POOL}/commit");
    send(app, Method::POST, &uri, &body, credential).await
}

async fn release(app: &TestApp, sub: &str, credential: &str) -> Reply {
    let uri = format!("/api/v1/pool/{POOL}/release");
    send(
        app,
        Method::DELETE,
        &uri,
        &json!({ "subdomain": sub }),
        credential,
    )
    .await
}

async fn reserve(app: &TestApp, sub: &str, credential: &str) -> Reply {
    let uri = format!("/api/v1/pool/{POOL}/reserve");
    send(
        app,
        Method::POST,
        &uri,
        &json!({ "subdomain": sub }),
        credential,
    )
    .await
}

contract_test!(
    an_allocate_credential_changes_only_what_it_reserved,
    [
        "PDM_API_TOKENS" = "sov1=t-one,sov2=t-two,ops=t-ops",
        "PDM_API_SCOPES" = "sov1=allocate,sov2=allocate,ops=operate",
    ],
    |app| {
        // Arrange: sov1 reserves two names.
        let acme = reserve(&app, "acme", "t-one").await;
        reserve(&app, "beta", "t-one").await;

        // Act
        let stolen_commit = commit(&app, "acme", &acme, "t-two").await;
        let stolen_release = release(&app, "beta", "t-two").await;
        let own_commit = commit(&app, "acme", &acme, "t-one").await;
        let operator_release = release(&app, "beta", "t-ops").await;
        let own_release = release(&app, "acme", "t-one").await;

        // Assert
        assert_eq!(acme.body["owner"], "sov1", "{:?}", acme.body);
        stolen_commit.assert_refused(StatusCode::FORBIDDEN, "not-owner");
        stolen_release.assert_refused(StatusCode::FORBIDDEN, "not-owner");
        assert_eq!(own_commit.status, StatusCode::OK, "{:?}", own_commit.body);
        assert_eq!(own_commit.body["owner"], "sov1");
        assert_eq!(
            operator_release.status,
            StatusCode::OK,
            "{:?}",
            operator_release.body
        );
        assert_eq!(own_release.status, StatusCode::OK, "{:?}", own_release.body);
    }
);

contract_test!(
    a_frozen_pool_takes_no_reservation_and_everything_else_goes_on,
    [
        "PDM_API_TOKENS" = "sov1=t-one,ops=t-ops",
        "PDM_API_SCOPES" = "sov1=allocate,ops=operate",
    ],
    |app| {
        // Arrange: one reservation made before the freeze.
        let held = reserve(&app, "acme", "t-one").await;
        let freeze_uri = format!("/api/v1/pool/{POOL}/freeze");
        let reason = json!({"reason": "abuse from 198.51.100.0/24; ticket OPS-7"});

        // Act
        let by_sovereign = send(&app, Method::POST, &freeze_uri, &reason, "t-one").await;
        let frozen = send(&app, Method::POST, &freeze_uri, &reason, "t-ops").await;
        let refused = reserve(&app, "beta", "t-one").await;
        let check = app.check("beta").await;
        let committed = commit(&app, "acme", &held, "t-one").await;
        let released = release(&app, "acme", "t-one").await;
        let lifted = send(&app, Method::DELETE, &freeze_uri, &json!({}), "t-ops").await;
        let after = reserve(&app, "beta", "t-one").await;
        let history: Vec<(String, String)> = sqlx::query_as(
            "select event, actor from pool_events where pool_domain = $1 order by id",
        )
        .bind(POOL)
        .fetch_all(&app.db)
        .await
        .unwrap();

        // Assert
        by_sovereign.assert_refused(StatusCode::FORBIDDEN, "insufficient-scope");
        assert_eq!(frozen.status, StatusCode::OK, "{:?}", frozen.body);
        assert_eq!(frozen.body["frozen"], true);
        assert_eq!(frozen.body["frozenBy"], "ops");
        refused.assert_refused(StatusCode::FORBIDDEN, "pool-frozen");
        assert_eq!(check.body["available"], false);
        assert_eq!(check.body["reason"], "pool-frozen");
        assert_eq!(committed.status, StatusCode::OK, "{:?}", committed.body);
        assert_eq!(released.status, StatusCode::OK, "{:?}", released.body);
        assert_eq!(lifted.body["frozen"], false, "{:?}", lifted.body);
        assert_eq!(after.status, StatusCode::CREATED, "{:?}", after.body);
        let events: Vec<(&str, &str)> = history
            .iter()
            .map(|(event, actor)| (event.as_str(), actor.as_str()))
            .collect();
        assert_eq!(events, [("frozen", "ops"), ("unfrozen", "ops")]);
    }
);

contract_test!(
    a_quota_holds_under_twenty_racing_reserves,
    [
        "PDM_API_TOKENS" = "sov1=t-one,sov2=t-two",
        "PDM_DEFAULT_QUOTA" = "2",
    ],
    |app| {
        // Act: twenty names at once by one credential, and one by another.
        let subs: Vec<String> = (0..20).map(|i| format!("q{i:02}")).collect();
        let replies =
            futures::future::join_all(subs.iter().map(|sub| reserve(&app, sub, "t-one"))).await;
        let other = reserve(&app, "other", "t-two").await;

        // Assert: exactly the quota, the rest refused with the limit and the count.
        let made = replies
            .iter()
            .filter(|r| r.status == StatusCode::CREATED)
            .count();
        assert_eq!(made, 2);
        for refused in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
            refused.assert_refused(StatusCode::FORBIDDEN, "quota-exceeded");
            assert_eq!(refused.body["limit"], 2);
            assert_eq!(refused.body["count"], 2);
        }
        let held: i64 =
            sqlx::query_scalar("select count(*) from pool_allocations where owner = 'sov1'")
                .fetch_one(&app.db)
                .await
                .unwrap();
        assert_eq!(held, 2);
        assert_eq!(
            other.status,
            StatusCode::CREATED,
            "another credential is not capped"
        );
    }
);

contract_test!(
    a_rate_limit_refuses_one_caller_with_retry_after_and_not_another,
    [
        "PDM_API_TOKENS" = "sov1=t-one,sov2=t-two",
        "PDM_RATE_LIMITS" = "write=3/min,read=4/min",
    ],
    |app| {
        // Act: four writes by sov1, one by sov2, five checks from one address.
        let mut sov1 = Vec::new();
        for i in 0..4 {
            sov1.push(reserve(&app, &format!("r{i}"), "t-one").await);
        }
        let sov2 = reserve(&app, "other", "t-two").await;
        let mut checks = Vec::new();
        for _ in 0..5 {
            checks.push(app.check("free").await);
        }

        // Assert
        for made in &sov1[..3] {
            assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
        }
        sov1[3].assert_refused(StatusCode::TOO_MANY_REQUESTS, "rate-limited");
        let retry_after: u64 = sov1[3].headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        assert_eq!(
            sov2.status,
            StatusCode::CREATED,
            "another credential is unaffected"
        );
        for check in &checks[..4] {
            assert_eq!(check.status, StatusCode::OK);
        }
        checks[4].assert_refused(StatusCode::TOO_MANY_REQUESTS, "rate-limited");
    }
);

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn throttled_requests_are_counted_by_class(db: sqlx::PgPool) {
    let app = TestApp::with_config(db, &pdm_tests::config(&[("PDM_RATE_LIMITS", "read=1/min")]));
    app.check("a").await;
    app.check("b").await;

    let (_, _, text) = pdm_tests::TextRequest::oneshot_text(app.endpoint.clone(), "/metrics").await;

    assert!(
        text.contains(r#"pdm_throttled_total{class="read"} 1"#),
        "{text}"
    );
}
