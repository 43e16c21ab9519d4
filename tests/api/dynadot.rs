//! PDM against the fake Dynadot: whole-zone writes that keep every foreign record, one read and
//! one write per change, no overlapping requests, convergence after faults, zone capacity.

use std::time::{Duration, Instant};

use futures::future::join_all;
use http::StatusCode;
use pdm_tests::fake_dynadot::{FakeDynadot, FakeRecord, FakeZone};
use pdm_tests::{CONSOLE_IP, DYNADOT_KEY, LB_IP, LogCapture, POOL, TestApp};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

const OTHER_POOL: &str = "openova.io";

async fn fake_with_pools() -> FakeDynadot {
    let fake = FakeDynadot::start(DYNADOT_KEY).await;
    fake.seed(POOL, FakeZone::with_foreign_records());
    fake.seed(OTHER_POOL, FakeZone::with_foreign_records());
    fake
}

/// The six records of `sub`, as the fake holds them.
fn sovereign_records(zone: &FakeZone, sub: &str) -> Vec<FakeRecord> {
    ["*", "console", "gitea", "harbor", "admin", "api"]
        .iter()
        .flat_map(|host| zone.at(&format!("{host}.{sub}")).into_iter().cloned())
        .collect()
}

/// Two replicas on one database (a connection pool and a Dynadot client each), one key.
async fn replicas_on(
    fake: &FakeDynadot,
    options: PgPoolOptions,
    connect: PgConnectOptions,
) -> [TestApp; 2] {
    let [first, second] = pdm_tests::two_pools(options, connect).await;
    [
        TestApp::with_dynadot(first, &fake.url, &[]),
        TestApp::with_dynadot(second, &fake.url, &[]),
    ]
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn commit_and_release_cost_one_read_and_one_write_and_keep_every_foreign_record(db: PgPool) {
    // Arrange
    let fake = fake_with_pools().await;
    let before = fake.zone(POOL);
    let app = TestApp::with_dynadot(db, &fake.url, &[]);
    let token = app.reserve_token("acme").await;
    fake.reset_calls();

    // Act: commit
    let commit = app.commit("acme", &token, LB_IP).await;

    // Assert: the six A records follow every record that was there, untouched, in order.
    assert_eq!(commit.status, StatusCode::OK, "{:?}", commit.body);
    assert_eq!((fake.calls("get_dns"), fake.calls("set_dns2")), (1, 1));
    let after = fake.zone(POOL);
    assert_eq!(after.main, before.main);
    assert_eq!(after.ttl, "3600", "the zone keeps its TTL");
    assert_eq!(after.sub[..before.sub.len()], before.sub[..]);
    let added = &after.sub[before.sub.len()..];
    assert_eq!(added.len(), 6);
    assert!(
        added
            .iter()
            .all(|r| r.record_type == "A" && r.value == LB_IP && r.value2.is_none())
    );
    assert_eq!(sovereign_records(&after, "acme").len(), 6);

    // Act: release
    fake.reset_calls();
    let release = app.release("acme").await;

    // Assert: the zone is exactly as it was before PDM touched it.
    assert_eq!(release.status, StatusCode::OK);
    assert_eq!((fake.calls("get_dns"), fake.calls("set_dns2")), (1, 1));
    assert_eq!(fake.zone(POOL), before);
    assert_eq!(fake.overlaps(), 0);
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_repeated_commit_after_success_calls_dynadot_no_more(db: PgPool) {
    let fake = fake_with_pools().await;
    let app = TestApp::with_dynadot(db, &fake.url, &[]);
    let token = app.reserve_token("acme").await;
    assert_eq!(
        app.commit("acme", &token, LB_IP).await.status,
        StatusCode::OK
    );
    fake.reset_calls();

    let again = app.commit("acme", &token, LB_IP).await;

    assert_eq!(again.status, StatusCode::OK);
    assert_eq!((fake.calls("get_dns"), fake.calls("set_dns2")), (0, 0));
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn twenty_concurrent_commits_through_two_replicas_keep_all_120_records_and_never_overlap(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    // Arrange: two replicas (a connection pool and a Dynadot client each), one account key,
    // 15 sovereigns on one zone (90 records, what fits beside its 5) and 5 on the other.
    let fake = fake_with_pools().await;
    let replicas = replicas_on(&fake, options, connect).await;
    let names: Vec<(&str, String)> = (0..20)
        .map(|i| (if i < 15 { POOL } else { OTHER_POOL }, format!("s{i:02}")))
        .collect();
    let mut tokens = Vec::new();
    for (i, (pool, sub)) in names.iter().enumerate() {
        let reply = replicas[i % 2]
            .call(
                http::Method::POST,
                &format!("/api/v1/pool/{pool}/reserve"),
                Some(serde_json::json!({"subdomain": sub})),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{pool}/{sub}: {:?}",
            reply.body
        );
        tokens.push(reply.body["reservationToken"].as_str().unwrap().to_owned());
    }
    fake.reset_calls();

    // Act
    let started = Instant::now();
    let commits = names
        .iter()
        .zip(&tokens)
        .enumerate()
        .map(|(i, ((pool, sub), token))| {
            let replica = &replicas[i % 2];
            async move {
                let body = serde_json::json!({
                    "subdomain": sub, "reservationToken": token, "loadBalancerIP": LB_IP,
                });
                let uri = format!("/api/v1/pool/{pool}/commit");
                replica.call(http::Method::POST, &uri, Some(body)).await
            }
        });
    let replies = join_all(commits).await;
    let elapsed = started.elapsed();

    // Assert
    for ((pool, sub), reply) in names.iter().zip(&replies) {
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{pool}/{sub}: {:?}",
            reply.body
        );
    }
    let mut written = 0;
    for (pool, sub) in &names {
        let records = sovereign_records(&fake.zone(pool), sub);
        assert_eq!(records.len(), 6, "{pool}/{sub}");
        written += records.len();
    }
    assert_eq!(written, 120);
    assert_eq!(
        fake.zone(POOL).sub.len(),
        95,
        "15 sovereigns beside 5 foreign records"
    );
    assert_eq!(fake.overlaps(), 0, "Dynadot saw two requests at once");
    // Group commit: every batch is one get_dns and one set_dns2, and a burst takes few.
    let (gets, sets) = (fake.calls("get_dns"), fake.calls("set_dns2"));
    assert_eq!(gets, sets, "one read and one write per batch");
    assert!(gets < 20, "{gets} batches for 20 commits");
    eprintln!(
        "20 concurrent commits: {} get_dns, {} set_dns2, 0 overlaps, {elapsed:?}",
        fake.calls("get_dns"),
        fake.calls("set_dns2")
    );
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn under_fifty_percent_faults_answers_are_200_or_202_and_dns_converges(db: PgPool) {
    // Arrange
    let fake = fake_with_pools().await;
    let before = fake.zone(POOL);
    let app = TestApp::with_dynadot(db, &fake.url, &[]);
    let mut tokens = Vec::new();
    for i in 0..10 {
        tokens.push(app.reserve_token(&format!("f{i}")).await);
    }
    fake.set_fault_rate(0.5);

    // Act: commit ten, release three of them, all while half the requests fail.
    let mut statuses = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        statuses.push(app.commit(&format!("f{i}"), token, LB_IP).await.status);
    }
    for i in 0..3 {
        statuses.push(app.release(&format!("f{i}")).await.status);
    }
    fake.set_fault_rate(0.0);
    let started = Instant::now();
    let runs = app.converge().await;
    let elapsed = started.elapsed();

    // Assert
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::ACCEPTED),
        "{statuses:?}"
    );
    let zone = fake.zone(POOL);
    for i in 0..10 {
        let expected = if i < 3 { 0 } else { 6 };
        assert_eq!(
            sovereign_records(&zone, &format!("f{i}")).len(),
            expected,
            "f{i}"
        );
    }
    for record in &before.sub {
        assert!(zone.sub.contains(record), "foreign record lost: {record:?}");
    }
    assert_eq!(zone.main, before.main);
    assert_eq!(app.row_count().await, 7);
    assert_eq!(fake.overlaps(), 0);
    let pending = statuses
        .iter()
        .filter(|s| **s == StatusCode::ACCEPTED)
        .count();
    assert!(pending > 0, "the faults reached no answer");
    assert!(pending < statuses.len(), "retries saved none of the calls");
    let pending = statuses
        .iter()
        .filter(|s| **s == StatusCode::ACCEPTED)
        .count();
    eprintln!(
        "50% faults: {pending}/13 answers were 202; converged in {runs} reconciler runs, {elapsed:?}"
    );
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_parked_zone_is_never_written(db: PgPool) {
    let fake = FakeDynadot::start(DYNADOT_KEY).await;
    fake.seed(POOL, FakeZone::parked());
    let app = TestApp::with_dynadot(db, &fake.url, &[]);
    let token = app.reserve_token("acme").await;

    let commit = app.commit("acme", &token, LB_IP).await;

    assert_eq!(commit.status, StatusCode::ACCEPTED);
    assert_eq!(fake.calls("set_dns2"), 0);
    assert_eq!(fake.zone(POOL), FakeZone::parked());
    let error: Option<String> = sqlx::query_scalar("select dns_last_error from pool_allocations")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(error.unwrap().contains("not on Dynadot DNS"));
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn the_key_never_reaches_logs_answers_or_the_table(db: PgPool) {
    // Arrange: every way a call can fail — a wrong key, passing faults, nobody listening.
    let logs = LogCapture::default();
    let _capture = logs.install();
    let wrong_key = FakeDynadot::start("another-key").await;
    wrong_key.seed(POOL, FakeZone::with_foreign_records());
    let faulty = fake_with_pools().await;
    faulty.set_fault_rate(1.0);
    let mut seen = Vec::new();

    // Act
    for (url, sub) in [
        (wrong_key.url.as_str(), "k1"),
        (faulty.url.as_str(), "k2"),
        ("http://127.0.0.1:9/api3.json", "k3"),
    ] {
        let app = TestApp::with_dynadot(db.clone(), url, &[]);
        seen.push(app.check(sub).await.body.to_string());
        let reserve = app.reserve(sub).await;
        seen.push(reserve.body.to_string());
        seen.push(
            app.pdm()
                .maintain()
                .await
                .map(|r| format!("{r:?}"))
                .unwrap_or_default(),
        );
    }
    let memory = TestApp::new(db.clone());
    let token = memory.reserve_token("k4").await;
    let unreachable = TestApp::with_dynadot(db.clone(), "http://127.0.0.1:9/api3.json", &[]);
    seen.push(
        unreachable
            .commit("k4", &token, LB_IP)
            .await
            .body
            .to_string(),
    );
    let errors: Vec<Option<String>> =
        sqlx::query_scalar("select dns_last_error from pool_allocations")
            .fetch_all(&db)
            .await
            .unwrap();

    // Assert: the failures were logged, and nowhere is the key.
    let logged = logs.text();
    assert!(
        logged.contains("invalid key"),
        "the capture works: {logged}"
    );
    assert!(logged.contains("retrying"), "{logged}");
    assert!(logged.contains("DNS change failed"), "{logged}");
    assert!(!logged.contains(DYNADOT_KEY), "the key was logged");
    for answer in &seen {
        assert!(!answer.contains(DYNADOT_KEY), "{answer}");
    }
    assert!(
        errors.iter().flatten().all(|e| !e.contains(DYNADOT_KEY)),
        "{errors:?}"
    );
    assert!(!format!("{:?}", unreachable.pdm().dns_provider().name()).contains(DYNADOT_KEY));
}

#[tokio::test]
async fn the_fake_refuses_and_counts_overlapping_requests_as_dynadot_does() {
    // Arrange: two clients that nothing serializes, and a slow fake.
    let fake = fake_with_pools().await;
    fake.set_latency(std::time::Duration::from_millis(100));
    let client = || {
        pdm_core::dns::dynadot::Dynadot::new(
            &fake.url,
            DYNADOT_KEY.into(),
            std::time::Duration::from_secs(5),
            pdm_core::dns::RetryPolicy {
                attempts: 1,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let (first, second) = (client(), client());
    let pool = pdm_core::domain::ManagedDomains::parse(POOL)
        .unwrap()
        .resolve(POOL)
        .unwrap();

    // Act
    let (a, b) = tokio::join!(first.get_dns(&pool), second.get_dns(&pool));

    // Assert: exactly what PDM's lock exists to prevent.
    assert_eq!(fake.overlaps(), 1);
    assert!(
        a.is_ok() != b.is_ok(),
        "one of the two is refused: {a:?} / {b:?}"
    );
}

/// A zone that holds `count` foreign sub records.
fn zone_with_foreign(count: usize) -> FakeZone {
    let mut zone = FakeZone::with_foreign_records();
    let extra = count - zone.sub.len();
    zone.sub
        .extend((0..extra).map(|i| FakeRecord::sub(&format!("legacy{i}"), "a", "192.0.2.9", None)));
    zone
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_full_zone_says_pool_full_before_promising_a_name(db: PgPool) {
    // Arrange: 90 foreign records leave room for one sovereign (6), not two.
    let fake = FakeDynadot::start(DYNADOT_KEY).await;
    fake.seed(POOL, zone_with_foreign(90));
    let app = TestApp::with_dynadot(db, &fake.url, &[]);

    // Act + Assert
    assert_eq!(app.check("first").await.body["available"], true);
    let token = app.reserve_token("first").await;
    let check = app.check("second").await;
    assert_eq!(check.status, StatusCode::OK);
    assert_eq!(check.body["available"], false);
    assert_eq!(check.body["reason"], "pool-full");
    let refused = app.reserve("second").await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.error(), "pool-full");
    assert_eq!(
        app.reserve("first").await.error(),
        "conflict",
        "a held name stays a conflict"
    );

    // The reservation committed, the zone holds 96 records and still no room for another.
    assert_eq!(
        app.commit("first", &token, LB_IP).await.status,
        StatusCode::OK
    );
    assert_eq!(fake.zone(POOL).sub.len(), 96);
    assert_eq!(app.check("second").await.body["reason"], "pool-full");

    // Releasing frees the room again.
    assert_eq!(app.release("first").await.status, StatusCode::OK);
    assert_eq!(app.check("second").await.body["available"], true);
    assert_eq!(app.reserve("second").await.status, StatusCode::CREATED);
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_wildcard_only_host_set_trades_names_for_capacity(db: PgPool) {
    let fake = FakeDynadot::start(DYNADOT_KEY).await;
    fake.seed(POOL, zone_with_foreign(90));
    let app = TestApp::with_dynadot(db, &fake.url, &[("PDM_SOVEREIGN_HOSTS", "*")]);

    let mut statuses = Vec::new();
    for i in 0..12 {
        statuses.push(app.reserve(&format!("w{i}")).await.status);
    }

    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(
        created, 10,
        "one record each beside 90 foreign ones: {statuses:?}"
    );
    assert_eq!(statuses[10..], [StatusCode::CONFLICT, StatusCode::CONFLICT]);
    assert_eq!(app.check("w12").await.body["reason"], "pool-full");
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn concurrent_reserves_never_overfill_a_zone(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    // Arrange: room for exactly two sovereigns; two replicas race twenty names.
    let fake = FakeDynadot::start(DYNADOT_KEY).await;
    fake.seed(POOL, zone_with_foreign(88));
    let replicas = replicas_on(&fake, options, connect).await;
    replicas[0].pdm().maintain().await.unwrap();

    // Act
    let replies = join_all((0..20).map(|i| {
        let replica = &replicas[i % 2];
        async move { replica.reserve(&format!("r{i}")).await }
    }))
    .await;

    // Assert
    let made = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let full = replies.iter().filter(|r| r.error() == "pool-full").count();
    assert_eq!((made, full), (2, 18));
}

/// The zone: someone else's records where acme's would go.
fn zone_with_records_at_acme() -> FakeZone {
    let mut zone = FakeZone::with_foreign_records();
    zone.sub.extend([
        FakeRecord::sub("console.acme", "a", "192.0.2.200", None),
        FakeRecord::sub("api.acme", "cname", "elsewhere.example", None),
        FakeRecord::sub("gitea.acme", "aaaa", "2001:db8::77", None),
    ]);
    zone
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn records_pdm_did_not_write_refuse_the_name_and_survive_commit_and_release(db: PgPool) {
    // Arrange
    let fake = FakeDynadot::start(DYNADOT_KEY).await;
    fake.seed(POOL, zone_with_records_at_acme());
    let app = TestApp::with_dynadot(db, &fake.url, &[]);

    // Act: PDM reads the zone the first time it needs its room; nothing is written.
    let check = app.check("acme").await;
    let reserve = app.reserve("acme").await;
    let other = app.allocate("beta").await;
    app.release("beta").await;

    // Assert
    assert_eq!(check.body["available"], false, "{:?}", check.body);
    assert_eq!(check.body["reason"], "dns-conflict");
    assert!(
        check.body["detail"]
            .as_str()
            .unwrap()
            .contains("console.acme A 192.0.2.200")
    );
    assert_eq!(reserve.status, StatusCode::CONFLICT);
    assert_eq!(reserve.error(), "dns-conflict");
    assert_eq!(other.status, StatusCode::OK, "{:?}", other.body);
    assert_eq!(
        fake.zone(POOL),
        zone_with_records_at_acme(),
        "every foreign record stands"
    );
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn adopting_replaces_foreign_records_once_and_release_leaves_the_zone_without_them(
    db: PgPool,
) {
    // Arrange
    let fake = FakeDynadot::start(DYNADOT_KEY).await;
    fake.seed(POOL, zone_with_records_at_acme());
    let app = TestApp::with_dynadot(db, &fake.url, &[("PDM_FOREIGN_RECORDS", "adopt")]);

    // Act
    let commit = app.allocate("acme").await;
    let history = app
        .get(&format!("/api/v1/pool/{POOL}/history?sub=acme"))
        .await;
    let release = app.release("acme").await;

    // Assert: the audit trail names what was replaced; afterwards the zone holds the rest.
    assert_eq!(commit.status, StatusCode::OK, "{:?}", commit.body);
    let events = history.body.to_string();
    assert!(
        events.contains("replaced records PDM did not write"),
        "{events}"
    );
    assert!(
        events.contains("api.acme CNAME elsewhere.example"),
        "{events}"
    );
    assert_eq!(release.status, StatusCode::OK);
    assert_eq!(fake.zone(POOL).sub, FakeZone::with_foreign_records().sub);
}

/// Commits `subs` at once while the test holds the zone's lock, and lets go once every
/// commit's row is active and its writer waits: the burst reaches one batch.
async fn burst_behind_the_lock(app: &TestApp, subs: &[String]) -> Vec<pdm_tests::Reply> {
    let mut tokens = Vec::new();
    for sub in subs {
        tokens.push(app.reserve_token(sub).await);
    }
    let held = app.pdm().store().lock("dynadot").await.unwrap();
    let commits = join_all(
        subs.iter()
            .zip(&tokens)
            .map(|(sub, token)| app.commit(sub, token, LB_IP)),
    );
    let release_when_all_wait = async {
        loop {
            let active: i64 =
                sqlx::query_scalar("select count(*) from pool_allocations where state = 'active'")
                    .fetch_one(&app.db)
                    .await
                    .unwrap();
            if active == i64::try_from(subs.len()).unwrap()
                && pdm_tests::lock_waiters(&app.db).await > 0
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        held.release().await;
    };
    let (replies, ()) = tokio::join!(commits, release_when_all_wait);
    replies
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_burst_of_fourteen_commits_is_one_read_and_one_write(db: PgPool) {
    // Arrange
    let fake = FakeDynadot::start(DYNADOT_KEY).await;
    fake.seed(POOL, FakeZone::with_foreign_records());
    let app = TestApp::with_dynadot(db, &fake.url, &[]);
    let subs: Vec<String> = (0..14).map(|i| format!("burst{i}")).collect();
    app.check("warm").await; // reads the zone once, as any first check does
    fake.reset_calls();

    // Act
    let replies = burst_behind_the_lock(&app, &subs).await;

    // Assert
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    }
    assert_eq!((fake.calls("get_dns"), fake.calls("set_dns2")), (1, 1));
    for sub in &subs {
        assert_eq!(sovereign_records(&fake.zone(POOL), sub).len(), 6, "{sub}");
    }
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_change_the_zone_refuses_blocks_no_other_in_its_batch(db: PgPool) {
    // Arrange: a record PDM did not write appears at one name after its reservation.
    let fake = FakeDynadot::start(DYNADOT_KEY).await;
    fake.seed(POOL, FakeZone::with_foreign_records());
    let app = TestApp::with_dynadot(db, &fake.url, &[]);
    let subs: Vec<String> = ["alpha", "beta", "gamma"].map(str::to_owned).to_vec();
    let mut zone = FakeZone::with_foreign_records();
    zone.sub
        .push(FakeRecord::sub("console.beta", "a", "192.0.2.200", None));
    app.check("warm").await;
    fake.seed(POOL, zone);
    fake.reset_calls();

    // Act
    let replies = burst_behind_the_lock(&app, &subs).await;

    // Assert: one batch; beta alone is refused for good (409 naming the record), back to its
    // reservation, owing DNS nothing, with the conflict on record.
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses, [200, 409, 200]);
    assert_eq!(replies[1].error(), "dns-conflict");
    assert!(
        replies[1].body["detail"]
            .as_str()
            .unwrap()
            .contains("console.beta A 192.0.2.200"),
        "{:?}",
        replies[1].body
    );
    let beta = app
        .get(&format!("/api/v1/pool/{POOL}/allocation?sub=beta"))
        .await;
    assert_eq!(beta.body["state"], "reserved", "{:?}", beta.body);
    assert_eq!(beta.body["dns"]["state"], "synced");
    assert_eq!(app.pdm().store().pending_count().await.unwrap(), 0);
    assert_eq!((fake.calls("get_dns"), fake.calls("set_dns2")), (1, 1));
    assert_eq!(sovereign_records(&fake.zone(POOL), "alpha").len(), 6);
    assert_eq!(sovereign_records(&fake.zone(POOL), "gamma").len(), 6);
    let beta = fake
        .zone(POOL)
        .at("console.beta")
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(
        beta,
        [FakeRecord::sub("console.beta", "a", "192.0.2.200", None)]
    );
    let history = app
        .get(&format!("/api/v1/pool/{POOL}/history?sub=beta"))
        .await;
    assert!(
        history.body.to_string().contains("dns-conflict"),
        "{:?}",
        history.body
    );
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_console_gateway_is_written_in_the_zone_and_its_release_leaves_the_zone_as_it_was(
    db: PgPool,
) {
    // Arrange
    let fake = fake_with_pools().await;
    let before = fake.zone(POOL);
    let app = TestApp::with_dynadot(db, &fake.url, &[]);

    // Act
    app.allocate_with_console("acme").await;
    let written = fake.zone(POOL);
    let released = app.release("acme").await;

    // Assert
    let at = |host: &str| written.at(&format!("{host}.acme"))[0].value.clone();
    for host in ["console", "api"] {
        assert_eq!(at(host), CONSOLE_IP, "{host}");
    }
    for host in ["*", "gitea", "harbor", "admin"] {
        assert_eq!(at(host), LB_IP, "{host}");
    }
    assert_eq!(released.status, StatusCode::OK, "{:?}", released.body);
    assert_eq!(fake.zone(POOL), before);
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn records_at_or_under_a_label_keep_it_taken(db: PgPool) {
    // Arrange: an operator's MX at legacy3 and an address deeper under it.
    let fake = FakeDynadot::start(DYNADOT_KEY).await;
    let mut zone = FakeZone::with_foreign_records();
    zone.sub.push(FakeRecord::sub(
        "legacy3",
        "mx",
        "mx.operator.example",
        Some("10"),
    ));
    zone.sub
        .push(FakeRecord::sub("old.legacy3", "a", "192.0.2.33", None));
    fake.seed(POOL, zone);
    let app = TestApp::with_dynadot(db, &fake.url, &[]);
    let before = fake.zone(POOL);

    // Act
    let check = app.check("legacy3").await;
    let reserve = app.reserve("legacy3").await;

    // Assert
    assert_eq!(check.body["reason"], "dns-conflict", "{:?}", check.body);
    let detail = check.body["detail"].as_str().unwrap();
    assert!(detail.contains("old.legacy3 A 192.0.2.33"), "{detail}");
    assert!(detail.contains("legacy3 MX"), "{detail}");
    assert_eq!(reserve.status, StatusCode::CONFLICT);
    assert_eq!(fake.zone(POOL), before);
}
