//! PDM against a real PowerDNS authoritative server (`scripts/pdns`): exactly the sovereign's
//! RRsets written and removed, foreign records intact, no record cap, convergence after an
//! outage, answers over DNS, and the API key nowhere in logs.

use std::sync::Arc;
use std::time::Instant;

use futures::future::join_all;
use http::StatusCode;
use pdm_core::dns::powerdns::{Change, Content, PowerDns, RrSet};
use pdm_core::dns::{DnsError, RetryPolicy};
use pdm_core::domain::PoolDomain;
use pdm_tests::powerdns::{PDNS_KEY, PdnsServer};
use pdm_tests::{CONSOLE_IP, LB_IP, LogCapture, POOL, Serving, TestApp};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

const HOSTS: [&str; 6] = ["*", "console", "gitea", "harbor", "admin", "api"];

fn pool(name: &str) -> PoolDomain {
    pdm_tests::pool_domain(name)
}

/// The address RRsets PDM should own for `sub`, as the server would hold them.
fn sovereign_rrsets(sub: &str, target: &str) -> Vec<RrSet> {
    let mut rrsets: Vec<RrSet> = HOSTS
        .iter()
        .map(|host| RrSet {
            name: format!("{host}.{sub}.{POOL}."),
            kind: "A".to_owned(),
            ttl: 300,
            records: vec![Content {
                content: target.to_owned(),
                disabled: false,
            }],
        })
        .collect();
    rrsets.sort_by(|a, b| a.name.cmp(&b.name));
    rrsets
}

/// The RRsets of `rrsets` under `sub`.
fn under<'a>(rrsets: &'a [RrSet], sub: &str) -> Vec<&'a RrSet> {
    let suffix = format!(".{sub}.{POOL}.");
    rrsets
        .iter()
        .filter(|r| r.name.ends_with(&suffix))
        .collect()
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn commit_and_release_write_and_remove_exactly_the_six_rrsets(db: PgPool) {
    // Arrange
    let server = PdnsServer::start();
    let before = server.rrsets(POOL).await;
    assert!(
        before.len() >= 4,
        "the script seeds foreign records: {before:?}"
    );
    let app = TestApp::with_powerdns(db, &server);

    // Act: commit
    app.allocate("acme").await;

    // Assert: the six RRsets, TTL 300, beside every record that was there.
    let after = server.rrsets(POOL).await;
    let mut expected: Vec<RrSet> = before
        .iter()
        .cloned()
        .chain(sovereign_rrsets("acme", LB_IP))
        .collect();
    expected.sort_by(|a, b| (&a.name, &a.kind).cmp(&(&b.name, &b.kind)));
    assert_eq!(after, expected);
    assert_eq!(server.resolve("console.acme.omani.works", "A"), [LB_IP]);
    assert_eq!(server.resolve("anything.acme.omani.works", "A"), [LB_IP]);
    assert_eq!(
        server.rrsets("openova.io").await.len(),
        before.len(),
        "the other pool is untouched"
    );

    // Act: release
    let release = app.release("acme").await;

    // Assert: the zone is as it was, and the names no longer resolve.
    assert_eq!(release.status, StatusCode::OK, "{:?}", release.body);
    assert_eq!(server.rrsets(POOL).await, before);
    assert!(server.resolve("console.acme.omani.works", "A").is_empty());
}

/// Someone else's records at `sub`'s host names: an address, a CNAME and an IPv6 address.
async fn plant_foreign_records(server: &PdnsServer, sub: &str) -> Vec<(String, &'static str)> {
    let planted = [
        (format!("console.{sub}.{POOL}."), "A", "192.0.2.200"),
        (format!("api.{sub}.{POOL}."), "CNAME", "elsewhere.example."),
        (format!("gitea.{sub}.{POOL}."), "AAAA", "2001:db8::77"),
    ];
    let changes: Vec<Change> = planted
        .iter()
        .map(|(name, kind, content)| Change {
            name: name.clone(),
            kind,
            changetype: "REPLACE",
            ttl: Some(60),
            records: vec![Content {
                content: (*content).to_owned(),
                disabled: false,
            }],
        })
        .collect();
    server.client().patch(&pool(POOL), &changes).await.unwrap();
    planted
        .iter()
        .map(|(name, kind, _)| (name.clone(), *kind))
        .collect()
}

async fn history_text(app: &TestApp, sub: &str) -> String {
    app.get(&format!("/api/v1/pool/{POOL}/history?sub={sub}"))
        .await
        .body
        .to_string()
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn records_pdm_did_not_write_are_never_replaced_and_keep_their_name_taken(db: PgPool) {
    // Arrange: foreign records under two names; PDM has read the zone once since beta's.
    let server = PdnsServer::start();
    let app = TestApp::with_powerdns(db, &server);
    plant_foreign_records(&server, "beta").await;
    app.pdm().maintain().await.unwrap();
    plant_foreign_records(&server, "acme").await;
    let before = server.rrsets(POOL).await;

    // Act: beta as PDM knows it; acme, whose records PDM has not seen yet.
    let check = app.check("beta").await;
    let reserve = app.reserve("beta").await;
    let token = app.reserve_token("acme").await;
    let commit = app.commit("acme", &token, LB_IP).await;
    let release = app.release("acme").await;
    app.converge().await;
    let check_after_release = app.check("acme").await;

    // Assert: refused with the records named, and not one foreign record touched.
    assert_eq!(check.body["available"], false, "{:?}", check.body);
    assert_eq!(check.body["reason"], "dns-conflict");
    let detail = check.body["detail"].as_str().unwrap();
    for named in [
        "console.beta A 192.0.2.200",
        "api.beta CNAME",
        "gitea.beta AAAA",
    ] {
        assert!(detail.contains(named), "{named} in {detail}");
    }
    assert_eq!(reserve.status, StatusCode::CONFLICT);
    assert_eq!(reserve.error(), "dns-conflict");
    assert_eq!(commit.status, StatusCode::CONFLICT, "{:?}", commit.body);
    assert_eq!(commit.error(), "dns-conflict");
    assert!(history_text(&app, "acme").await.contains("commit-refused"));
    assert!(release.status.is_success(), "{:?}", release.body);
    assert_eq!(
        check_after_release.body["reason"], "dns-conflict",
        "PDM learned acme's records from its own refused write"
    );
    assert_eq!(server.rrsets(POOL).await, before, "the zone is as it was");
    assert_eq!(
        server.resolve("console.acme.omani.works", "A"),
        ["192.0.2.200"]
    );
    let drift = app.pdm().drift(&pool(POOL)).await.unwrap().unwrap();
    let foreign: Vec<String> = drift.foreign.iter().map(ToString::to_string).collect();
    assert!(
        foreign.contains(&"console.acme A 192.0.2.200".to_owned()),
        "{foreign:?}"
    );
    // The six planted under acme and beta, and the operator's www and docs: each keeps its
    // label taken.
    assert_eq!(foreign.len(), 8, "{foreign:?}");
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn an_operator_may_let_pdm_adopt_foreign_records_and_the_audit_says_what_was_replaced(
    db: PgPool,
) {
    // Arrange
    let server = PdnsServer::start();
    let app = TestApp::with_powerdns_configured(db, &server, &[("PDM_FOREIGN_RECORDS", "adopt")]);
    plant_foreign_records(&server, "acme").await;
    app.pdm().maintain().await.unwrap();

    // Act
    let check = app.check("acme").await;
    let commit = app.allocate("acme").await;

    // Assert: exactly the six A RRsets under acme, and the replaced records on record.
    assert_eq!(check.body["available"], true, "{:?}", check.body);
    assert_eq!(commit.status, StatusCode::OK, "{:?}", commit.body);
    let after = server.rrsets(POOL).await;
    let owned: Vec<RrSet> = under(&after, "acme").into_iter().cloned().collect();
    assert_eq!(owned, sovereign_rrsets("acme", LB_IP));
    assert_eq!(server.resolve("console.acme.omani.works", "A"), [LB_IP]);
    let history = history_text(&app, "acme").await;
    for replaced in [
        "console.acme A 192.0.2.200",
        "api.acme CNAME elsewhere.example.",
        "gitea.acme AAAA 2001:db8::77",
    ] {
        assert!(history.contains(replaced), "{replaced} in {history}");
    }
}

/// Two replicas on one database (a connection pool and a PowerDNS client each).
async fn replicas_on(
    server: &PdnsServer,
    options: PgPoolOptions,
    connect: PgConnectOptions,
) -> [TestApp; 2] {
    let [first, second] = pdm_tests::two_pools(options, connect).await;
    [
        TestApp::with_powerdns(first, server),
        TestApp::with_powerdns(second, server),
    ]
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn thirty_concurrent_commits_through_two_replicas_all_land_with_no_record_cap(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    // Arrange: 30 sovereigns on one zone, 180 records, twice what a Dynadot zone could hold.
    let server = PdnsServer::start();
    let before = server.rrsets(POOL).await;
    let replicas = replicas_on(&server, options, connect).await;
    let subs: Vec<String> = (0..30).map(|i| format!("s{i:02}")).collect();
    let mut tokens = Vec::new();
    for (i, sub) in subs.iter().enumerate() {
        tokens.push(replicas[i % 2].reserve_token(sub).await);
    }

    // Act
    let started = Instant::now();
    let commits = subs
        .iter()
        .zip(&tokens)
        .enumerate()
        .map(|(i, (sub, token))| replicas[i % 2].commit(sub, token, LB_IP));
    let replies = join_all(commits).await;
    let elapsed = started.elapsed();

    // Assert
    for (sub, reply) in subs.iter().zip(&replies) {
        assert_eq!(reply.status, StatusCode::OK, "{sub}: {:?}", reply.body);
    }
    let after = server.rrsets(POOL).await;
    for sub in &subs {
        let owned: Vec<RrSet> = under(&after, sub).into_iter().cloned().collect();
        assert_eq!(owned, sovereign_rrsets(sub, LB_IP), "{sub}");
    }
    assert_eq!(after.len(), before.len() + 180);
    let check = replicas[0].check("one-more").await;
    assert_eq!(
        check.body["available"], true,
        "no pool-full: {:?}",
        check.body
    );
    eprintln!("30 concurrent commits on one PowerDNS zone: 180 RRsets in {elapsed:?}");
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn an_outage_answers_202_and_converges_once_the_server_is_back(db: PgPool) {
    // Arrange
    let server = PdnsServer::start();
    let app = TestApp::with_powerdns(db, &server);
    app.allocate("old").await;
    let token = app.reserve_token("new").await;
    server.stop();

    // Act: commit one and release the other while PowerDNS is down.
    let commit = app.commit("new", &token, LB_IP).await;
    let release = app.release("old").await;
    let pending_while_down = app.pdm().store().pending_count().await.unwrap();
    server.restart();
    let started = Instant::now();
    let runs = app.converge().await;
    let elapsed = started.elapsed();

    // Assert
    assert_eq!(commit.status, StatusCode::ACCEPTED, "{:?}", commit.body);
    assert_eq!(release.status, StatusCode::ACCEPTED, "{:?}", release.body);
    assert_eq!(pending_while_down, 2);
    let after = server.rrsets(POOL).await;
    let new: Vec<RrSet> = under(&after, "new").into_iter().cloned().collect();
    assert_eq!(new, sovereign_rrsets("new", LB_IP));
    assert!(under(&after, "old").is_empty());
    assert_eq!(server.resolve("console.new.omani.works", "A"), [LB_IP]);
    assert!(server.resolve("console.old.omani.works", "A").is_empty());
    eprintln!("PowerDNS outage: converged in {runs} reconciler run(s), {elapsed:?}");
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn drift_compares_the_zones_rrsets_with_the_table(db: PgPool) {
    // Arrange: two sovereigns; one loses a record behind PDM's back, and a stray one appears.
    let server = PdnsServer::start();
    let app = TestApp::with_powerdns(db, &server);
    app.allocate("acme").await;
    app.allocate("beta").await;
    let client = server.client();
    let tamper = [
        Change {
            name: "console.beta.omani.works.".to_owned(),
            kind: "A",
            changetype: "DELETE",
            ttl: None,
            records: Vec::new(),
        },
        Change {
            name: "api.ghost.omani.works.".to_owned(),
            kind: "A",
            changetype: "REPLACE",
            ttl: Some(300),
            records: vec![Content {
                content: "198.51.100.7".to_owned(),
                disabled: false,
            }],
        },
    ];
    client.patch(&pool(POOL), &tamper).await.unwrap();

    // Act
    let drift = app
        .pdm()
        .drift(&pool(POOL))
        .await
        .unwrap()
        .expect("a zone to compare");

    // Assert: foreign records (www, docs) are not PDM's business.
    let names = |records: &[pdm_core::service::DriftRecord]| -> Vec<String> {
        records.iter().map(|r| r.name.clone()).collect()
    };
    assert_eq!(names(&drift.missing), ["console.beta"]);
    assert_eq!(names(&drift.orphaned), ["api.ghost"]);
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn the_server_commits_through_powerdns_chosen_by_configuration(db: PgPool) {
    // The combined server and the commit function, configured only by the environment.
    // The default (a signed child zone per sovereign) on one, records in the pool zone on
    // the other.
    let server = PdnsServer::start();
    let base = [
        ("PDM_DNS_PROVIDER", "powerdns"),
        ("PDNS_API_URL", server.url.as_str()),
        ("PDNS_API_KEY", PDNS_KEY),
    ];
    let child_zones = [("PDNS_NAMESERVERS", "ns1.openova.io, ns2.openova.io")];
    let records = [("PDNS_DELEGATION", "records")];
    for (serving, sub, mode) in [
        (Serving::CombinedServer, "alpha", &child_zones),
        (Serving::Functions, "omega", &records),
    ] {
        let env = [&base[..], &mode[..]].concat();
        let app = TestApp::served(db.clone(), serving, &env).await;

        app.allocate(sub).await;

        assert_eq!(
            server.resolve(&format!("console.{sub}.{POOL}"), "A"),
            [LB_IP],
            "{serving:?}"
        );
    }
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn failures_are_clear_and_the_key_never_reaches_logs_answers_or_the_table(db: PgPool) {
    // Arrange: a wrong key, an unknown zone, a bad RRset, and nobody listening.
    let logs = LogCapture::default();
    let _capture = logs.install();
    let server = PdnsServer::start();
    let wrong_key = "pdns-wrong-key-41f0c2";
    let client_with = |key: &str| {
        PowerDns::new(
            &server.url,
            "localhost",
            key.into(),
            std::time::Duration::from_secs(5),
            RetryPolicy {
                attempts: 2,
                min_delay: std::time::Duration::from_millis(5),
                max_delay: std::time::Duration::from_millis(10),
            },
            pdm_core::dns::powerdns::Delegation::Records,
        )
        .unwrap()
    };
    let bad_rrset = [Change {
        name: "x.omani.works.".to_owned(),
        kind: "A",
        changetype: "REPLACE",
        ttl: Some(300),
        records: vec![Content {
            content: "not-an-address".to_owned(),
            disabled: false,
        }],
    }];

    // Act
    let refused_key = client_with(wrong_key)
        .rrsets(&pool(POOL))
        .await
        .unwrap_err();
    let unknown_zone = client_with(PDNS_KEY)
        .rrsets(&pool("example.org"))
        .await
        .unwrap_err();
    let bad = client_with(PDNS_KEY)
        .patch(&pool(POOL), &bad_rrset)
        .await
        .unwrap_err();
    let wrong_app = TestApp::with_provider(
        db.clone(),
        &pdm_tests::config(&[]),
        Arc::new(client_with(wrong_key)),
    );
    let wrong_commit = wrong_app
        .commit("k1", &wrong_app.reserve_token("k1").await, LB_IP)
        .await;
    server.stop();
    let app = TestApp::with_powerdns(db.clone(), &server);
    let down_commit = app
        .commit("k2", &app.reserve_token("k2").await, LB_IP)
        .await;
    let errors: Vec<Option<String>> =
        sqlx::query_scalar("select dns_last_error from pool_allocations order by subdomain")
            .fetch_all(&db)
            .await
            .unwrap();

    // Assert: each failure says what went wrong …
    assert!(
        matches!(&refused_key, DnsError::Unwritable(m) if m.contains("refused the API key")),
        "{refused_key}"
    );
    assert!(
        matches!(&unknown_zone, DnsError::Unwritable(m) if m.contains("no zone example.org.")),
        "{unknown_zone}"
    );
    assert!(
        matches!(&bad, DnsError::Refused(m) if m.contains("HTTP 422") && m.contains("not-an-address")),
        "{bad}"
    );
    assert_eq!(wrong_commit.status, StatusCode::ACCEPTED);
    assert_eq!(down_commit.status, StatusCode::ACCEPTED);
    let errors: Vec<String> = errors.into_iter().flatten().collect();
    assert!(errors[0].contains("refused the API key"), "{errors:?}");
    assert!(errors[1].starts_with("dns-unavailable:"), "{errors:?}");
    // … and no key is anywhere.
    let logged = logs.text();
    assert!(logged.contains("retrying"), "the capture works: {logged}");
    let seen = format!(
        "{logged}{refused_key}{unknown_zone}{bad}{:?}{:?}{errors:?}",
        wrong_commit.body, down_commit.body
    );
    for key in [PDNS_KEY, wrong_key] {
        assert!(!seen.contains(key), "the key {key} leaked");
    }
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_console_gateway_answers_for_console_and_api_and_its_release_leaves_the_zone_as_it_was(
    db: PgPool,
) {
    // Arrange
    let server = PdnsServer::start();
    let before = server.rrsets(POOL).await;
    let app = TestApp::with_powerdns(db, &server);

    // Act
    app.allocate_with_console("acme").await;
    let resolved = |host: &str| server.resolve(&format!("{host}.acme.omani.works"), "A");
    let (console, api, gitea, other) = (
        resolved("console"),
        resolved("api"),
        resolved("gitea"),
        resolved("anything"),
    );
    let released = app.release("acme").await;

    // Assert
    assert_eq!(
        (console, api),
        (vec![CONSOLE_IP.to_owned()], vec![CONSOLE_IP.to_owned()])
    );
    assert_eq!(
        (gitea, other),
        (vec![LB_IP.to_owned()], vec![LB_IP.to_owned()])
    );
    assert_eq!(released.status, StatusCode::OK, "{:?}", released.body);
    assert_eq!(server.rrsets(POOL).await, before);
}

/// check is open to anyone: it must never queue on a zone's lock. While a writer holds the
/// lock of a zone PDM has not measured yet, thirty checks answer from the table at once, and
/// none of them waits for the lock (or holds a connection doing so).
#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn check_never_waits_for_the_zone_lock(db: PgPool) {
    // Arrange
    let server = PdnsServer::start();
    let app = TestApp::with_powerdns(db.clone(), &server);
    let writer = app
        .pdm()
        .store()
        .lock(&format!("zone:{POOL}"))
        .await
        .unwrap();

    // Act
    let checks = join_all((0..30).map(|i| app.check_owned(format!("free{i}"))));
    let answered = tokio::time::timeout(std::time::Duration::from_secs(10), checks).await;
    let waiting = pdm_tests::lock_waiters(&db).await;
    writer.release().await;

    // Assert
    let answered = answered.expect("every check answers while the lock is held");
    assert!(
        answered
            .iter()
            .all(|r| r.status == StatusCode::OK && r.body["available"] == true)
    );
    assert_eq!(waiting, 0);
}
