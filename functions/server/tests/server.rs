//! The real pdm-server binary over TCP: start-up migrations, the contract, the sweeper loop,
//! and a clean stop on SIGTERM.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// Generous: only a broken server takes this long; a slow machine does not fail the test.
const PATIENCE: Duration = Duration::from_secs(60);

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(database_url: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_pdm-server"))
            .env_clear()
            .env("PORT", port.to_string())
            .env("PDM_DATABASE_URL", database_url)
            .env("PDM_SWEEPER_INTERVAL", "200ms")
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

    async fn wait_until_healthy(&mut self, client: &reqwest::Client) {
        let started = Instant::now();
        while started.elapsed() < PATIENCE {
            if let Ok(response) = client.get(self.url("/healthz")).send().await {
                if response.status() == 200 {
                    return;
                }
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("pdm-server exited early ({status}): {}", self.stderr());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("pdm-server never became healthy");
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

#[sqlx::test(migrations = false)]
async fn the_server_migrates_serves_the_contract_sweeps_and_stops_on_sigterm(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    // Arrange: an empty database; the server must migrate it.
    let mut server = Server::start(&database_url(&connect));
    let client = reqwest::Client::new();
    server.wait_until_healthy(&client).await;
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
            "loadBalancerIP": "198.51.100.7",
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
    assert_eq!(list["allocations"][0]["loadBalancerIP"], "198.51.100.7");
    let release = client
        .delete(pool_url("release?sub=acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(release.status(), 200);

    // The sweeper loop deletes a reservation that lapsed behind the server's back.
    let db = options.connect_with(connect).await.unwrap();
    sqlx::query(
        "insert into pool_allocations (pool_domain, subdomain, state, expires_at, reservation_token)
         values ('omani.works', 'stale', 'reserved', now() - interval '1 minute', gen_random_uuid())",
    )
    .execute(&db)
    .await
    .unwrap();
    let started = Instant::now();
    loop {
        let left: i64 = sqlx::query_scalar("select count(*) from pool_allocations")
            .fetch_one(&db)
            .await
            .unwrap();
        if left == 0 {
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
