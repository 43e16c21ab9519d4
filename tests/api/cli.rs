//! The operator CLI against real PostgreSQL and the fake Dynadot.

use pdm_tests::fake_dynadot::{FakeDynadot, FakeRecord, FakeZone};
use pdm_tests::served::{database_url, run_pdm};
use pdm_tests::{DYNADOT_KEY, LB_IP, POOL, row_count, seed_reservations};
use serde_json::Value;
use sqlx::PgPool;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// Runs `pdm args…` on `db` with DNS at `fake`; off the test's thread, so the fake can answer.
async fn pdm(db: &PgPool, fake: &FakeDynadot, args: &[&str]) -> Run {
    let env = vec![
        ("PDM_DATABASE_URL", database_url(db)),
        ("DYNADOT_API_KEY", DYNADOT_KEY.to_owned()),
        ("DYNADOT_API_URL", fake.url.clone()),
        ("PDM_LOG_LEVEL", "warn".to_owned()),
        ("USER", "ops".to_owned()),
    ];
    let output = run_pdm(env, args).await;
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `pdm reserve POOL sub`, returning the token.
async fn reserve_token(db: &PgPool, fake: &FakeDynadot, sub: &str) -> String {
    let reserved = pdm(db, fake, &["--json", "reserve", POOL, sub]).await;
    reserved.json()[0]["reservationToken"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn fake_pool() -> FakeDynadot {
    let fake = FakeDynadot::start(DYNADOT_KEY).await;
    fake.seed(POOL, FakeZone::with_foreign_records());
    fake.seed("openova.io", FakeZone::with_foreign_records());
    fake
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn an_operator_can_check_reserve_commit_list_read_history_and_release(db: PgPool) {
    let fake = fake_pool().await;

    let check = pdm(&db, &fake, &["--json", "check", POOL, "acme"]).await;
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert_eq!(check.json()["available"], true);

    let reserve = pdm(
        &db,
        &fake,
        &[
            "--json",
            "reserve",
            POOL,
            "acme",
            "--created-by",
            "ops-team",
        ],
    )
    .await;
    assert_eq!(reserve.code, 0, "{}", reserve.stderr);
    let token = reserve.json()[0]["reservationToken"]
        .as_str()
        .unwrap()
        .to_owned();

    let commit = pdm(
        &db,
        &fake,
        &["commit", POOL, "acme", "--token", &token, "--ip", LB_IP],
    )
    .await;
    assert_eq!(commit.code, 0, "{}", commit.stderr);
    assert!(commit.stdout.contains("active"), "{}", commit.stdout);
    assert_eq!(fake.zone(POOL).at("console.acme").len(), 1);

    let list = pdm(&db, &fake, &["list", POOL]).await;
    assert_eq!(list.code, 0);
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert!(lines[0].starts_with("POOL"), "a table: {}", list.stdout);
    assert!(
        lines[1].contains("acme") && lines[1].contains(LB_IP),
        "{}",
        list.stdout
    );

    let taken = pdm(&db, &fake, &["check", POOL, "acme"]).await;
    assert_eq!(taken.code, 1, "an unavailable name is exit 1");
    assert!(taken.stdout.contains("unavailable"), "{}", taken.stdout);

    let history = pdm(&db, &fake, &["--json", "history", POOL, "acme"]).await;
    let events: Vec<(String, String)> = history
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(events[0], ("reserved".to_owned(), "cli:ops".to_owned()));
    assert_eq!(events[1], ("committed".to_owned(), "cli:ops".to_owned()));

    let release = pdm(&db, &fake, &["release", POOL, "acme", "--token", &token]).await;
    assert_eq!(release.code, 0, "{}", release.stderr);
    assert!(fake.zone(POOL).at("console.acme").is_empty());
    assert_eq!(row_count(&db).await, 0);
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn refusals_exit_1_with_the_contracts_code(db: PgPool) {
    let fake = fake_pool().await;
    pdm(&db, &fake, &["reserve", POOL, "acme"]).await;
    let stranger = "00000000-0000-4000-8000-000000000000";

    let commit = pdm(
        &db,
        &fake,
        &["commit", POOL, "acme", "--token", stranger, "--ip", LB_IP],
    )
    .await;
    let bad_ip = pdm(
        &db,
        &fake,
        &["commit", POOL, "acme", "--token", stranger, "--ip", "nope"],
    )
    .await;
    let pool = pdm(&db, &fake, &["--json", "list", "example.com"]).await;

    assert_eq!(commit.code, 1);
    assert!(
        commit.stderr.contains("token-mismatch"),
        "{}",
        commit.stderr
    );
    assert!(bad_ip.stderr.contains("missing-lb-ip"), "{}", bad_ip.stderr);
    assert_eq!(pool.code, 1);
    assert!(
        pool.json()["error"]
            .as_str()
            .unwrap()
            .contains("unsupported-pool")
    );
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn drift_reports_missing_and_orphaned_records_and_touches_nothing(db: PgPool) {
    // Arrange: one allocation, then the zone edited behind PDM's back.
    let fake = fake_pool().await;
    let token = reserve_token(&db, &fake, "acme").await;
    pdm(
        &db,
        &fake,
        &["commit", POOL, "acme", "--token", &token, "--ip", LB_IP],
    )
    .await;
    let clean = pdm(&db, &fake, &["drift", POOL]).await;
    let mut zone = fake.zone(POOL);
    zone.sub
        .retain(|r| r.subhost.as_deref() != Some("gitea.acme"));
    zone.sub
        .push(FakeRecord::sub("console.ghost", "a", "192.0.2.77", None));
    fake.seed(POOL, zone.clone());
    fake.reset_calls();

    // Act
    let drift = pdm(&db, &fake, &["--json", "drift", POOL]).await;

    // Assert
    assert_eq!(clean.code, 0, "{}{}", clean.stdout, clean.stderr);
    assert_eq!(drift.code, 1, "{}", drift.stderr);
    let report = &drift.json()[0][1];
    assert_eq!(report["missing"][0]["name"], "gitea.acme");
    assert_eq!(report["orphaned"][0]["name"], "console.ghost");
    assert_eq!(report["missing"].as_array().unwrap().len(), 1);
    assert_eq!(
        report["orphaned"].as_array().unwrap().len(),
        1,
        "foreign records are not PDM's"
    );
    assert_eq!(fake.calls("set_dns2"), 0);
    assert_eq!(fake.zone(POOL), zone);
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn reconcile_lists_owed_changes_then_applies_them(db: PgPool) {
    let fake = fake_pool().await;
    let token = reserve_token(&db, &fake, "acme").await;
    fake.set_fault_rate(1.0);
    let commit = pdm(
        &db,
        &fake,
        &["commit", POOL, "acme", "--token", &token, "--ip", LB_IP],
    )
    .await;
    fake.set_fault_rate(0.0);
    sqlx::query("update pool_allocations set dns_retry_at = now()")
        .execute(&db)
        .await
        .unwrap();

    let dry = pdm(&db, &fake, &["--json", "reconcile", "--dry-run"]).await;
    let untouched = fake.zone(POOL).at("console.acme").len();
    let real = pdm(&db, &fake, &["reconcile"]).await;
    let after = pdm(&db, &fake, &["reconcile", "--dry-run"]).await;

    assert_eq!(commit.code, 2, "committed, DNS pending: {}", commit.stderr);
    assert_eq!(dry.code, 1);
    assert_eq!(dry.json()[0]["subdomain"], "acme");
    assert_eq!(untouched, 0, "a dry run changes nothing");
    assert_eq!(real.code, 0, "{}", real.stderr);
    assert_eq!(fake.zone(POOL).at("console.acme").len(), 1);
    assert_eq!(after.code, 0);
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn sweep_once_deletes_lapsed_reservations(db: PgPool) {
    let fake = fake_pool().await;
    seed_reservations(&db, "old", 3, true).await;
    seed_reservations(&db, "live", 1, false).await;

    let sweep = pdm(&db, &fake, &["--json", "sweep", "--once"]).await;

    assert_eq!(sweep.code, 0, "{}", sweep.stderr);
    assert_eq!(sweep.json()["swept"], 3);
    assert_eq!(row_count(&db).await, 1);
}

#[sqlx::test(migrations = false)]
async fn migrate_prepares_an_empty_database(db: PgPool) {
    let fake = fake_pool().await;

    let migrate = pdm(&db, &fake, &["migrate"]).await;
    let check = pdm(&db, &fake, &["check", POOL, "acme"]).await;

    assert_eq!(migrate.code, 0, "{}", migrate.stderr);
    assert!(
        migrate.stdout.contains("migrated to version"),
        "{}",
        migrate.stdout
    );
    assert_eq!(check.code, 0, "{}", check.stderr);
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn an_operator_can_force_release_only_past_the_grace(db: PgPool) {
    // Arrange
    let fake = fake_pool().await;
    let token = reserve_token(&db, &fake, "orphan").await;
    let commit = pdm(
        &db,
        &fake,
        &["commit", POOL, "orphan", "--token", &token, "--ip", LB_IP],
    )
    .await;
    assert_eq!(commit.code, 0, "{}", commit.stderr);
    let fqdn = format!("orphan.{POOL}");
    let force = [
        "--json",
        "force-release",
        &fqdn,
        "--reason",
        "OPS-7",
        "--grace-confirmed",
    ];

    // Act
    let young = pdm(&db, &fake, &force).await;
    sqlx::query("update pool_allocations set reserved_at = now() - interval '31 days'")
        .execute(&db)
        .await
        .unwrap();
    let forced = pdm(&db, &fake, &force).await;

    // Assert
    assert_ne!(young.code, 0);
    let refusal = young.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(refusal.starts_with("grace-not-elapsed"), "{refusal}");
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(forced.json()["freed"], fqdn.as_str());
    assert_eq!(row_count(&db).await, 0);
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn an_operator_freezes_and_unfreezes_a_pool(db: PgPool) {
    let fake = fake_pool().await;

    let frozen = pdm(
        &db,
        &fake,
        &["--json", "pool", "freeze", POOL, "--reason", "abuse"],
    )
    .await;
    let refused = pdm(&db, &fake, &["reserve", POOL, "acme"]).await;
    let lifted = pdm(&db, &fake, &["pool", "unfreeze", POOL]).await;
    let reserved = pdm(&db, &fake, &["reserve", POOL, "acme"]).await;

    assert_eq!(frozen.code, 0, "{}", frozen.stderr);
    assert_eq!(frozen.json()["frozen"], true);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("pool-frozen"), "{}", refused.stderr);
    assert_eq!(lifted.code, 0, "{}", lifted.stderr);
    assert!(lifted.stdout.contains("open"), "{}", lifted.stdout);
    assert_eq!(reserved.code, 0, "{}", reserved.stderr);
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn an_operator_makes_lists_and_revokes_a_credential(db: PgPool) {
    let fake = fake_pool().await;

    let made = pdm(
        &db,
        &fake,
        &[
            "token", "create", "sov1", "--scope", "allocate", "--quota", "3",
        ],
    )
    .await;
    let listed = pdm(&db, &fake, &["--json", "token", "list"]).await;
    let revoked = pdm(&db, &fake, &["token", "revoke", "sov1"]).await;
    let left = pdm(&db, &fake, &["--json", "token", "list"]).await;

    assert_eq!(made.code, 0, "{}", made.stderr);
    let secret = made.stdout.trim();
    assert!(secret.starts_with("pdm_") && secret.len() > 40, "{secret}");
    assert!(
        !made.stderr.contains(secret),
        "the secret is in no log line"
    );
    assert_eq!(listed.json()[0]["name"], "sov1");
    assert!(!listed.stdout.contains(secret));
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    assert_eq!(left.json(), serde_json::json!([]));
}
