//! The real pdm-server binary over TCP: start-up migrations, the contract, the sweeper loop,
//! and a clean stop on SIGTERM.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use pdm_tests::DYNADOT_KEY;
use pdm_tests::fake_dynadot::{FakeDynadot, FakeZone};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// Generous: only a broken server takes this long; a slow machine does not fail the test.
const PATIENCE: Duration = Duration::from_secs(60);

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(database_url: &str, extra_env: &[(&str, &str)]) -> Self {
        let env = [&[("PDM_DATABASE_URL", database_url)], extra_env].concat();
        Self::start_in(&std::env::temp_dir(), &env)
    }

    /// Starts the server in working directory `dir` with only `env` (and a port) set.
    fn start_in(dir: &std::path::Path, env: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_pdm-server"))
            .current_dir(dir)
            .env_clear()
            .env("PORT", port.to_string())
            .env("PDM_SWEEPER_INTERVAL", "200ms")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pdm-server starts");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn wait_until_ready(&mut self, client: &reqwest::Client) {
        let started = Instant::now();
        while started.elapsed() < PATIENCE {
            if let Ok(response) = client.get(self.url("/readyz")).send().await {
                if response.status() == 200 {
                    return;
                }
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("pdm-server exited early ({status}): {}", self.stderr());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("pdm-server never became ready");
    }

    /// Kills the process outright, as the OOM killer or a node failure would.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and waits for the exit.
    async fn terminate(&mut self) -> ExitStatus {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let started = Instant::now();
        while started.elapsed() < PATIENCE {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.child.kill().unwrap();
        panic!("pdm-server did not stop on SIGTERM");
    }

    fn stderr(&mut self) -> String {
        let mut logs = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            stderr.read_to_string(&mut logs).unwrap();
        }
        logs
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn database_url(connect: &PgConnectOptions) -> String {
    format!(
        "postgres://{}@{}:{}/{}",
        connect.get_username(),
        connect.get_host(),
        connect.get_port(),
        connect.get_database().unwrap_or_default()
    )
}

#[tokio::test]
async fn with_no_database_configured_it_runs_on_an_embedded_sqlite_file_that_survives_restarts() {
    // Arrange: an empty working directory, no PDM_DATABASE_URL, no DNS provider.
    let dir = std::env::temp_dir().join(format!("pdm-embedded-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir(&dir).unwrap();
    let client = reqwest::Client::new();
    let reserve = json!({"subdomain": "acme", "createdBy": "first-run"});

    // Act: reserve, stop, start again.
    let mut first = Server::start_in(&dir, &[]);
    first.wait_until_ready(&client).await;
    let reserved = client
        .post(first.url("/api/v1/pool/omani.works/reserve"))
        .json(&reserve)
        .send()
        .await
        .unwrap()
        .status();
    let stopped = first.terminate().await;
    let said = first.stderr();
    let mut second = Server::start_in(&dir, &[]);
    second.wait_until_ready(&client).await;
    let check: Value = client
        .get(second.url("/api/v1/pool/omani.works/check?sub=acme"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    second.terminate().await;

    // Assert: it said loudly what it defaulted, and the reservation outlived the restart.
    assert_eq!(reserved, 201);
    assert!(stopped.success());
    assert!(said.contains("EMBEDDED SQLite"), "{said}");
    assert!(said.contains("LOG-ONLY DNS"), "{said}");
    assert!(dir.join("pdm.sqlite").exists());
    assert_eq!(check["reason"], "reserved-state", "{check}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[sqlx::test(migrations = false)]
async fn the_server_migrates_serves_the_contract_sweeps_and_stops_on_sigterm(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    // Arrange: an empty database; the server must migrate it.
    let mut server = Server::start(&database_url(&connect), &[]);
    let client = reqwest::Client::new();
    server.wait_until_ready(&client).await;
    let pool_url = |action: &str| server.url(&format!("/api/v1/pool/omani.works/{action}"));

    // Act + Assert: one allocation's life over real HTTP.
    let reserved: Value = {
        let response = client
            .post(pool_url("reserve"))
            .json(&json!({"subdomain": "acme", "createdBy": "tcp-test"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    };
    let commit = client
        .post(pool_url("commit"))
        .json(&json!({
            "subdomain": "acme",
            "reservationToken": reserved["reservationToken"],
            "sovereignFQDN": "acme.omani.works",
            "loadBalancerIP": "94.130.0.7",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(commit.status(), 200);
    let list: Value = client
        .get(pool_url("list"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["allocations"][0]["loadBalancerIP"], "94.130.0.7");
    let release = client
        .delete(pool_url("release?sub=acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(release.status(), 200);

    // The sweeper loop deletes a reservation that lapsed behind the server's back.
    let db = options.connect_with(connect).await.unwrap();
    pdm_tests::seed_reservations(&db, "stale", 1, true).await;
    let started = Instant::now();
    loop {
        if pdm_tests::row_count(&db).await == 0 {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "the sweeper never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let status = server.terminate().await;
    let logs = server.stderr();
    assert!(status.success(), "{status}: {logs}");
    assert!(logs.contains("LOG-ONLY DNS provider"), "{logs}");
    assert!(logs.contains("\"stopped\""), "{logs}");
}

#[test]
fn the_server_refuses_a_bad_configuration_naming_the_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_pdm-server"))
        .env_clear()
        .env("PDM_RESERVATION_TTL", "ten minutes")
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(2));
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(logs.contains("PDM_RESERVATION_TTL"), "{logs}");
}

#[sqlx::test(migrations = false)]
async fn a_commit_killed_between_the_row_and_dns_converges_after_restart(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    // Arrange: a server on the fake Dynadot, and a reservation.
    let fake = FakeDynadot::start(DYNADOT_KEY).await;
    fake.seed("omani.works", FakeZone::with_foreign_records());
    fake.seed("openova.io", FakeZone::with_foreign_records());
    let env = [
        ("DYNADOT_API_KEY", DYNADOT_KEY),
        ("DYNADOT_API_URL", fake.url.as_str()),
    ];
    let url = database_url(&connect);
    let mut server = Server::start(&url, &env);
    let client = reqwest::Client::new();
    server.wait_until_ready(&client).await;
    let reserved: Value = client
        .post(server.url("/api/v1/pool/omani.works/reserve"))
        .json(&json!({"subdomain": "acme"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // Act: commit while Dynadot is slow, and kill the server before it writes DNS.
    fake.set_latency(Duration::from_secs(3));
    let reads_before = fake.calls("get_dns");
    let commit = client
        .post(server.url("/api/v1/pool/omani.works/commit"))
        .json(&json!({
            "subdomain": "acme",
            "reservationToken": reserved["reservationToken"],
            "loadBalancerIP": "94.130.0.7",
        }))
        .send();
    let commit = tokio::spawn(commit);
    let started = Instant::now();
    while fake.calls("get_dns") == reads_before {
        assert!(
            started.elapsed() < PATIENCE,
            "the commit never reached Dynadot"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill();
    assert!(
        commit.await.unwrap().is_err(),
        "the killed server cannot have answered"
    );
    let db = options.connect_with(connect).await.unwrap();
    let (state, dns_state): (String, String) =
        sqlx::query_as("select state, dns_state from pool_allocations where subdomain = 'acme'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!((state.as_str(), dns_state.as_str()), ("active", "pending"));
    assert!(fake.zone("omani.works").at("console.acme").is_empty());

    // Act: a new process on the same database.
    fake.set_latency(Duration::ZERO);
    let restarted_at = Instant::now();
    let mut restarted = Server::start(&url, &env);

    // Assert: the reconciler finishes the commit, without any request.
    loop {
        let zone = fake.zone("omani.works");
        if ["*", "console", "gitea", "harbor", "admin", "api"]
            .iter()
            .all(|host| zone.at(&format!("{host}.acme")).len() == 1)
        {
            break;
        }
        if restarted_at.elapsed() > PATIENCE {
            restarted.kill();
            panic!("DNS never converged: {}", restarted.stderr());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let converged_in = restarted_at.elapsed();
    // The records land first, then the row is settled: wait for that too.
    loop {
        let dns_state: String = sqlx::query_scalar("select dns_state from pool_allocations")
            .fetch_one(&db)
            .await
            .unwrap();
        if dns_state == "synced" {
            break;
        }
        assert!(
            restarted_at.elapsed() < PATIENCE,
            "the row was never settled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        fake.zone("omani.works").sub.len(),
        5 + 6,
        "foreign records intact"
    );
    assert!(restarted.terminate().await.success());
    eprintln!("killed mid-commit: converged {converged_in:?} after restart");
}
