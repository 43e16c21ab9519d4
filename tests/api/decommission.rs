//! Decommission by FQDN (`POST /api/v1/release`) and the operator's force-release.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use http::{Method, StatusCode, header};
use pdm_core::resolver::{ResolveFailed, Resolver};
use pdm_tests::powerdns::PdnsServer;
use pdm_tests::{LB_IP, POOL, TestApp, raw_request};
use serde_json::{Value, json};
use sqlx::PgPool;

const CONFIRM: &str = "x-force-release-confirm";

fn force(
    app_body: Value,
    confirm: Option<&str>,
) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    let mut headers = vec![(header::CONTENT_TYPE, "application/json")];
    let name = header::HeaderName::from_static(CONFIRM);
    if let Some(value) = confirm {
        headers.push((name, value));
    }
    raw_request(
        Method::POST,
        "/api/v1/force-release",
        &app_body.to_string(),
        &headers,
    )
}

/// Makes `sub`'s allocation `days` old.
async fn age(db: &PgPool, sub: &str, days: i32) {
    sqlx::query(
        "update pool_allocations set reserved_at = now() - make_interval(days => $3)
         where pool_domain = $1 and subdomain = $2",
    )
    .bind(POOL)
    .bind(sub)
    .bind(days)
    .execute(db)
    .await
    .unwrap();
}

contract_test!(release_by_fqdn_is_release_by_path, |app| {
    // Arrange
    app.allocate("acme").await;
    let release = |fqdn: &str| {
        app.call(
            Method::POST,
            "/api/v1/release",
            Some(json!({ "sovereignFQDN": fqdn })),
        )
    };

    // Act
    let freed = release("ACME.omani.works.").await;
    let again = release("acme.omani.works").await;
    let byo = release("acme.customer-owned.example").await;
    let malformed = release("omani").await;
    let deeper = release("x.acme.omani.works").await;
    let empty_label = release("acme..omani.works").await;

    // Assert
    assert_eq!(freed.status, StatusCode::OK, "{:?}", freed.body);
    assert_eq!(freed.body, json!({"freed": "acme.omani.works"}));
    assert_eq!(app.check("acme").await.body["available"], true);
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.error(), "not-found");
    assert_eq!(byo.status, StatusCode::NOT_FOUND);
    assert_eq!(byo.error(), "not-managed");
    for refused in [&malformed, &deeper, &empty_label] {
        refused.assert_refused(StatusCode::UNPROCESSABLE_ENTITY, "invalid-format");
    }
});

contract_test!(force_release_refuses_until_every_gate_is_passed, |app| {
    // Arrange
    app.allocate("acme").await;
    let body = |reason: &str, confirmed: bool| json!({"sovereignFQDN": "acme.omani.works", "reason": reason, "graceConfirmed": confirmed});

    // Act
    let unconfirmed = app.send(force(body("orphaned", true), None)).await;
    let no_reason = app.send(force(body("  ", true), Some("yes"))).await;
    let grace_unconfirmed = app.send(force(body("orphaned", false), Some("yes"))).await;
    let byo = app
        .send(force(
            json!({"sovereignFQDN": "x.example.org", "reason": "r", "graceConfirmed": true}),
            Some("yes"),
        ))
        .await;
    let young = app.send(force(body("orphaned", true), Some("yes"))).await;

    // Assert
    assert_eq!(unconfirmed.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unconfirmed.error(), "confirmation-required");
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(grace_unconfirmed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(byo.error(), "not-managed");
    assert_eq!(young.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(young.error(), "grace-not-elapsed");
    let allowed_at = young.body["allowedAt"].as_str().unwrap();
    let allowed_at =
        time::OffsetDateTime::parse(allowed_at, &time::format_description::well_known::Rfc3339)
            .unwrap();
    let in_30_days = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    assert!(
        (allowed_at - in_30_days).abs() < time::Duration::hours(1),
        "{allowed_at}"
    );
    assert_eq!(app.check("acme").await.body["reason"], "active-state");
});

/// Answers from a fixed table; names it does not hold resolve to `parking`, if any.
#[derive(Debug)]
struct Answers {
    names: BTreeMap<String, IpAddr>,
    parking: Option<IpAddr>,
}

#[async_trait::async_trait]
impl Resolver for Answers {
    async fn addresses(&self, name: &str) -> Result<BTreeSet<IpAddr>, ResolveFailed> {
        Ok(self
            .names
            .get(name)
            .copied()
            .or(self.parking)
            .into_iter()
            .collect())
    }
}

fn answers(names: &[(&str, &str)], parking: Option<&str>) -> Arc<Answers> {
    Arc::new(Answers {
        names: names
            .iter()
            .map(|(name, ip)| (name.to_string(), ip.parse().unwrap()))
            .collect(),
        parking: parking.map(|ip| ip.parse().unwrap()),
    })
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_sovereign_that_still_answers_is_not_force_released(db: PgPool) {
    // Arrange: past the grace, but the FQDN answers with the sovereign's own address.
    let fqdn = format!("acme.{POOL}");
    let app = TestApp::with_resolver(db.clone(), answers(&[(&fqdn, LB_IP)], Some("198.51.100.1")));
    app.allocate("acme").await;
    age(&db, "acme", 31).await;
    let body = json!({"sovereignFQDN": fqdn, "reason": "orphaned", "graceConfirmed": true});

    // Act
    let refused = app.send(force(body, Some("yes"))).await;

    // Assert
    assert_eq!(refused.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(refused.error(), "fqdn-still-resolves");
    assert_eq!(app.dns().zone(POOL).len(), 6, "nothing was released");
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn an_orphaned_sovereign_past_its_grace_is_force_released_with_the_reason_audited(
    db: PgPool,
) {
    // Arrange: only the pool's parking wildcard answers, which says nothing of life.
    let app = TestApp::with_resolver(db.clone(), answers(&[], Some("198.51.100.1")));
    app.allocate("acme").await;
    age(&db, "acme", 31).await;
    let body = json!({
        "sovereignFQDN": format!("acme.{POOL}"),
        "reason": "cluster deleted by the customer in March; ticket OPS-1182",
        "graceConfirmed": true,
    });

    // Act
    let forced = app.send(force(body, Some("yes"))).await;

    // Assert
    assert_eq!(forced.status, StatusCode::OK, "{:?}", forced.body);
    assert_eq!(forced.body, json!({"freed": format!("acme.{POOL}")}));
    assert!(app.dns().zone(POOL).is_empty(), "its records are gone");
    let history = app
        .get(&format!("/api/v1/pool/{POOL}/history?sub=acme"))
        .await;
    let events = history.body["events"].as_array().unwrap();
    let release = events
        .iter()
        .find(|e| e["event"] == "release-requested")
        .expect("the release is in the audit trail");
    assert_eq!(
        release["detail"],
        "force-release: cluster deleted by the customer in March; ticket OPS-1182"
    );
}

/// While asked about the sovereign, the name changes hands: its allocation is released and
/// another sovereign reserves and commits it (a new token, reserved now), as a slow DNS gate
/// lets happen. Then only parking answers.
#[derive(Debug)]
struct HandsOverWhileAsked(PgPool);

#[async_trait::async_trait]
impl Resolver for HandsOverWhileAsked {
    async fn addresses(&self, _: &str) -> Result<BTreeSet<IpAddr>, ResolveFailed> {
        sqlx::query(
            "update pool_allocations set reservation_token = gen_random_uuid(),
                 reserved_at = now(), created_by = 'another sovereign'
             where subdomain = 'acme'",
        )
        .execute(&self.0)
        .await
        .unwrap();
        Ok(BTreeSet::new())
    }
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn force_release_frees_only_the_allocation_whose_age_it_checked(db: PgPool) {
    // Arrange
    let app = TestApp::with_resolver(db.clone(), Arc::new(HandsOverWhileAsked(db.clone())));
    app.allocate("acme").await;
    age(&db, "acme", 31).await;
    let body = json!({"sovereignFQDN": format!("acme.{POOL}"), "reason": "orphaned", "graceConfirmed": true});

    // Act
    let refused = app.send(force(body, Some("yes"))).await;

    // Assert: the new holder keeps its name and records.
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    let held = app
        .get(&format!("/api/v1/pool/{POOL}/allocation?sub=acme"))
        .await;
    assert_eq!(held.body["createdBy"], "another sovereign");
    assert!(held.body.get("releasingSince").is_none(), "{:?}", held.body);
    assert_eq!(app.dns().zone(POOL).len(), 6);
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_force_release_reason_must_be_printable_and_the_confirmation_said_once(db: PgPool) {
    // Arrange
    let app = TestApp::with_resolver(db.clone(), answers(&[], None));
    app.allocate("acme").await;
    age(&db, "acme", 31).await;
    let forged = "orphaned\r\n2026-12-02 forged line \u{1b}[2J";
    let long = "x".repeat(257);

    // Act
    let mut replies = Vec::new();
    for reason in [forged, long.as_str()] {
        let body = json!({"sovereignFQDN": format!("acme.{POOL}"), "reason": reason, "graceConfirmed": true});
        replies.push(app.send(force(body, Some("yes"))).await);
    }
    let body = json!({"sovereignFQDN": format!("acme.{POOL}"), "reason": "orphaned", "graceConfirmed": true});
    let mut twice = force(body, Some("yes"));
    twice.headers_mut().append(
        "x-force-release-confirm",
        http::HeaderValue::from_static("no"),
    );
    let repeated = app.send(twice).await;

    // Assert
    for refused in &replies {
        refused.assert_refused(StatusCode::UNPROCESSABLE_ENTITY, "invalid-format");
    }
    repeated.assert_refused(StatusCode::UNAUTHORIZED, "confirmation-required");
    assert_eq!(app.dns().zone(POOL).len(), 6, "nothing was released");
}

/// The gate asks a real DNS server (the PowerDNS that PDM publishes to) what the names PDM
/// published answer: the sovereign's own name has no address (PDM never writes it), but its
/// console does, so it is alive. A resolver that cannot answer frees nothing either.
#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn the_gate_asks_dns_for_every_published_name_and_a_resolver_failure_frees_nothing(
    db: PgPool,
) {
    // Arrange
    let server = PdnsServer::start();
    let dns = format!("127.0.0.1:{}", server.dns_port);
    let app = TestApp::with_powerdns_configured(db.clone(), &server, &[("PDM_RESOLVER", &dns)]);
    app.allocate("acme").await;
    age(&db, "acme", 31).await;
    let mute =
        TestApp::with_powerdns_configured(db.clone(), &server, &[("PDM_RESOLVER", "127.0.0.1:9")]);
    let body = json!({"sovereignFQDN": format!("acme.{POOL}"), "reason": "orphaned", "graceConfirmed": true});

    // Act
    let alive = app.send(force(body.clone(), Some("yes"))).await;
    let unknown = mute.send(force(body, Some("yes"))).await;

    // Assert
    assert!(server.resolve(&format!("acme.{POOL}"), "A").is_empty());
    assert_eq!(
        alive.status,
        StatusCode::PRECONDITION_FAILED,
        "{:?}",
        alive.body
    );
    assert_eq!(alive.error(), "fqdn-still-resolves");
    assert!(
        alive.body["detail"]
            .as_str()
            .unwrap()
            .contains(".acme.omani.works")
    );
    assert_eq!(
        unknown.status,
        StatusCode::PRECONDITION_FAILED,
        "{:?}",
        unknown.body
    );
    assert_eq!(unknown.error(), "liveness-unknown");
    assert_eq!(app.check("acme").await.body["reason"], "active-state");
}
