//! `PDNS_DELEGATION=child-zone` against the real pdns-server: each sovereign in its own zone,
//! delegated from the pool zone and signed, with the chain of trust checked by computing the
//! DS from the child's DNSKEY as a resolver would.

use base64::Engine;
use http::StatusCode;
use pdm_core::dns::powerdns::RrSet;
use pdm_tests::powerdns::{FLEET_NAMESERVERS, PdnsServer};
use pdm_tests::{CONSOLE_IP, LB_IP, POOL, TestApp};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

/// The pool zone's RRset `kind` at `name`, as its contents.
fn parent_rrset(parent: &[RrSet], name: &str, kind: &str) -> Vec<String> {
    let mut contents: Vec<String> = parent
        .iter()
        .filter(|r| r.name == name && r.kind == kind)
        .flat_map(|r| r.records.iter().map(|c| c.content.clone()))
        .collect();
    contents.sort();
    contents
}

/// The DS (SHA-256, RFC 4034 §5.1.4) a resolver expects for `zone`'s DNSKEY as `dig +short`
/// prints it (`257 3 13 <base64>`): `keytag algorithm 2 digest`.
fn ds_of(zone: &str, dnskey: &str) -> String {
    let mut fields = dnskey.split_whitespace();
    let flags: u16 = fields.next().unwrap().parse().unwrap();
    let protocol: u8 = fields.next().unwrap().parse().unwrap();
    let algorithm: u8 = fields.next().unwrap().parse().unwrap();
    let key = base64::engine::general_purpose::STANDARD
        .decode(fields.collect::<String>())
        .unwrap();
    let mut rdata = flags.to_be_bytes().to_vec();
    rdata.extend([protocol, algorithm]);
    rdata.extend(key);
    let mut owner = Vec::new();
    for label in zone.trim_end_matches('.').split('.') {
        owner.push(u8::try_from(label.len()).unwrap());
        owner.extend(label.to_ascii_lowercase().bytes());
    }
    owner.push(0);
    let digest = Sha256::digest([owner, rdata.clone()].concat());
    // RFC 4034 Appendix B.
    let mut tag: u32 = 0;
    for (i, byte) in rdata.iter().enumerate() {
        tag += if i % 2 == 0 {
            u32::from(*byte) << 8
        } else {
            u32::from(*byte)
        };
    }
    tag += (tag >> 16) & 0xFFFF;
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{} {algorithm} 2 {hex}", tag & 0xFFFF)
}

/// Asserts `sub` is delegated, signed, resolving to the load balancer from its own zone.
async fn assert_delegated_and_signed(server: &PdnsServer, sub: &str) {
    let child = format!("{sub}.{POOL}.");
    let parent = server.rrsets(POOL).await;
    assert_eq!(
        parent_rrset(&parent, &child, "NS"),
        FLEET_NAMESERVERS,
        "{sub}"
    );
    assert!(parent_rrset(&parent, &format!("console.{child}"), "A").is_empty());
    let dnskeys = server.resolve(&child, "DNSKEY");
    assert_eq!(dnskeys.len(), 1, "one CSK: {dnskeys:?}");
    let expected_ds = ds_of(&child, &dnskeys[0]);
    assert_eq!(parent_rrset(&parent, &child, "DS"), [expected_ds], "{sub}");
    for name in [format!("console.{child}"), format!("anything.{child}")] {
        assert_eq!(server.resolve(&name, "A"), [LB_IP], "{name}");
        let signed = server.dig(&name, "A", true);
        assert!(
            signed.contains("\tRRSIG\tA 13 "),
            "{name} is signed: {signed}"
        );
    }
    let soa = server.resolve(&child, "SOA");
    assert!(
        soa[0].starts_with(&format!("{} hostmaster.{child} ", FLEET_NAMESERVERS[0])),
        "{soa:?}"
    );
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_commit_delegates_a_signed_child_zone_and_a_release_takes_it_all_back(db: PgPool) {
    // Arrange
    let server = PdnsServer::start();
    let app = TestApp::with_powerdns_child_zones(db, &server, true);
    let foreign_before: Vec<RrSet> = server.rrsets(POOL).await;

    // Act
    app.allocate("acme").await;

    // Assert
    assert_delegated_and_signed(&server, "acme").await;
    let zone = server
        .api_get(&format!("zones/acme.{POOL}."))
        .await
        .unwrap();
    assert_eq!(zone["kind"], "Native");

    // Act: release.
    let released = app.release("acme").await;

    // Assert: no delegation, no DS, no child zone, and the names are gone.
    assert_eq!(released.status, StatusCode::OK, "{:?}", released.body);
    assert_eq!(
        server.rrsets(POOL).await,
        foreign_before,
        "the pool zone as it was"
    );
    assert!(
        server
            .api_get(&format!("zones/acme.{POOL}."))
            .await
            .is_none()
    );
    let gone = server.dig(&format!("console.acme.{POOL}"), "A", false);
    assert!(gone.contains("status: NXDOMAIN"), "{gone}");
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn powerdns_away_mid_commit_answers_202_and_a_half_made_child_zone_converges(db: PgPool) {
    // Arrange: an earlier attempt left a bare child zone (PowerDNS's own SOA, no keys), then
    // PowerDNS went away.
    let server = PdnsServer::start();
    let app = TestApp::with_powerdns_child_zones(db, &server, true);
    server
        .create_bare_zone(&format!("acme.{POOL}."), "pdm")
        .await;
    let token = app.reserve_token("acme").await;
    server.stop();

    // Act
    let committed = app.commit("acme", &token, LB_IP).await;
    server.restart();
    app.converge().await;

    // Assert
    assert_eq!(
        committed.status,
        StatusCode::ACCEPTED,
        "{:?}",
        committed.body
    );
    assert_delegated_and_signed(&server, "acme").await;
    let drift = app
        .pdm()
        .drift(&pdm_tests::pool_domain(POOL))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(drift.unexplained(), 0, "{drift:?}");
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn two_replicas_committing_30_sovereigns_delegate_and_sign_all_and_lose_no_parent_record(
    db: PgPool,
) {
    // Arrange
    let server = PdnsServer::start();
    let replicas = [
        TestApp::with_powerdns_child_zones(db.clone(), &server, true),
        TestApp::with_powerdns_child_zones(db, &server, true),
    ];
    let foreign: Vec<RrSet> = server.rrsets(POOL).await;
    let subs: Vec<String> = (0..30).map(|i| format!("s{i:02}")).collect();
    let mut tokens = Vec::new();
    for (i, sub) in subs.iter().enumerate() {
        tokens.push(replicas[i % 2].reserve_token(sub).await);
    }

    // Act
    let commits = subs
        .iter()
        .zip(&tokens)
        .enumerate()
        .map(|(i, (sub, token))| {
            let replica = &replicas[i % 2];
            async move { replica.commit(sub, token, LB_IP).await.status }
        });
    let statuses = futures::future::join_all(commits).await;
    replicas[0].converge().await;

    // Assert
    assert!(statuses.iter().all(|s| s.is_success()), "{statuses:?}");
    let parent = server.rrsets(POOL).await;
    for record in &foreign {
        assert!(parent.contains(record), "{record:?} survived");
    }
    for sub in &subs {
        assert_delegated_and_signed(&server, sub).await;
    }
    assert_eq!(
        parent.iter().filter(|r| r.kind == "DS").count(),
        30,
        "one DS per sovereign"
    );
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn switching_from_records_to_child_zones_keeps_names_resolving_and_republish_migrates(
    db: PgPool,
) {
    // Arrange: a sovereign published as records in the pool zone.
    let server = PdnsServer::start();
    let before = TestApp::with_powerdns(db.clone(), &server);
    before.allocate("old").await;

    // Act: the same table under a PDM now configured for child zones.
    let after = TestApp::with_powerdns_child_zones(db, &server, true);
    let still = server.resolve(&format!("console.old.{POOL}"), "A");
    after.allocate("new").await;
    let (owed, report) = after.pdm().republish().await.unwrap();

    // Assert
    assert_eq!(still, [LB_IP], "switching alone changes nothing published");
    assert_eq!((owed, report.dns_synced, report.dns_pending), (2, 2, 0));
    assert_delegated_and_signed(&server, "old").await;
    assert_delegated_and_signed(&server, "new").await;
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn without_dnssec_the_child_zone_is_delegated_unsigned(db: PgPool) {
    let server = PdnsServer::start();
    let app = TestApp::with_powerdns_child_zones(db, &server, false);

    app.allocate("plain").await;

    let parent = server.rrsets(POOL).await;
    let child = format!("plain.{POOL}.");
    assert_eq!(parent_rrset(&parent, &child, "NS"), FLEET_NAMESERVERS);
    assert!(parent_rrset(&parent, &child, "DS").is_empty());
    assert!(server.resolve(&child, "DNSKEY").is_empty());
    assert_eq!(server.resolve(&format!("console.{child}"), "A"), [LB_IP]);
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_console_gateway_answers_from_the_child_zone_and_its_release_drops_the_zone(db: PgPool) {
    // Arrange
    let server = PdnsServer::start();
    let before = server.rrsets(POOL).await;
    let app = TestApp::with_powerdns_child_zones(db, &server, false);

    // Act
    app.allocate_with_console("acme").await;
    let resolved = |host: &str| server.resolve(&format!("{host}.acme.omani.works"), "A");
    let answers: Vec<Vec<String>> = ["console", "api", "harbor", "anything"]
        .map(resolved)
        .to_vec();
    let released = app.release("acme").await;

    // Assert
    assert_eq!(
        answers,
        [[CONSOLE_IP], [CONSOLE_IP], [LB_IP], [LB_IP]].map(|ip| vec![ip[0].to_owned()])
    );
    assert_eq!(released.status, StatusCode::OK, "{:?}", released.body);
    assert_eq!(server.rrsets(POOL).await, before);
    assert!(
        server
            .api_get(&format!("zones/acme.{POOL}."))
            .await
            .is_none()
    );
}

/// Writes `rrsets` (name, type, contents) into `zone` as its operator would.
async fn operator_writes(server: &PdnsServer, zone: &str, rrsets: &[(&str, &str, &str)]) {
    let rrsets: Vec<serde_json::Value> = rrsets
        .iter()
        .map(|(name, kind, content)| {
            serde_json::json!({"name": name, "type": kind, "ttl": 300, "changetype": "REPLACE",
                               "records": [{"content": content, "disabled": false}]})
        })
        .collect();
    let response = reqwest::Client::new()
        .patch(format!(
            "{}/api/v1/servers/localhost/zones/{zone}",
            server.url
        ))
        .header("x-api-key", pdm_tests::powerdns::PDNS_KEY)
        .json(&serde_json::json!({ "rrsets": rrsets }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

/// What PDM did not make keeps its label: an operator's delegation and zone (legacy2), records
/// at and under a label (legacy3), a zone made after the name was reserved (legacy4). Check
/// names what stands there, reserve and commit are 409, and nothing of the operator's is
/// replaced or dropped.
#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn what_pdm_did_not_make_keeps_its_label_and_is_never_taken_over(db: PgPool) {
    // Arrange
    let server = PdnsServer::start();
    let app = TestApp::with_powerdns_child_zones(db, &server, false);
    server
        .create_bare_zone(&format!("legacy2.{POOL}."), "operator")
        .await;
    operator_writes(
        &server,
        &format!("legacy2.{POOL}."),
        &[(&format!("mail.legacy2.{POOL}."), "A", "192.0.2.25")],
    )
    .await;
    operator_writes(
        &server,
        &format!("{POOL}."),
        &[
            (&format!("legacy2.{POOL}."), "NS", "ns.operator.example."),
            (&format!("old.legacy3.{POOL}."), "A", "192.0.2.33"),
            (&format!("legacy3.{POOL}."), "MX", "10 mx.operator.example."),
        ],
    )
    .await;
    let token = app.reserve_token("legacy4").await;
    server
        .create_bare_zone(&format!("legacy4.{POOL}."), "operator")
        .await;
    let pool_before = server.rrsets(POOL).await;

    // Act
    let check2 = app.check("legacy2").await;
    let check3 = app.check("legacy3").await;
    let reserve2 = app.reserve("legacy2").await;
    let reserve3 = app.reserve("legacy3").await;
    let commit4 = app.commit("legacy4", &token, LB_IP).await;

    // Assert
    for (check, named) in [
        (
            &check2,
            [
                "legacy2 NS ns.operator.example.",
                "legacy2 ZONE legacy2.omani.works.",
            ],
        ),
        (
            &check3,
            [
                "old.legacy3 A 192.0.2.33",
                "legacy3 MX 10 mx.operator.example.",
            ],
        ),
    ] {
        assert_eq!(check.body["available"], false, "{:?}", check.body);
        assert_eq!(check.body["reason"], "dns-conflict");
        let detail = check.body["detail"].as_str().unwrap();
        for record in named {
            assert!(detail.contains(record), "{record} in {detail}");
        }
    }
    for refused in [&reserve2, &reserve3, &commit4] {
        assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
        assert_eq!(refused.error(), "dns-conflict");
    }
    assert!(
        commit4.body["detail"]
            .as_str()
            .unwrap()
            .contains("legacy4 ZONE")
    );
    assert_eq!(
        server.rrsets(POOL).await,
        pool_before,
        "the pool zone is as it was"
    );
    for zone in ["legacy2", "legacy4"] {
        let kept = server.api_get(&format!("zones/{zone}.{POOL}.")).await;
        assert_eq!(kept.unwrap()["account"], "operator", "{zone}");
    }
    assert_eq!(
        server.resolve(&format!("mail.legacy2.{POOL}"), "A"),
        ["192.0.2.25"]
    );
}
