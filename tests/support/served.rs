//! PDM as it is deployed: the combined server, or every per-endpoint function binary behind
//! a tiny path router, each a real process on its own loopback port.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http::Method;
use pdm_core::http::routes;
use sqlx::PgPool;

/// Only a broken process takes this long to listen; a slow machine does not fail a test.
const PATIENCE: Duration = Duration::from_secs(60);

/// How a test reaches PDM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    /// The tower service called in-process.
    InProcess,
    /// `pdm-server` over TCP.
    CombinedServer,
    /// `pdm-check`, `pdm-reserve`, … each on its own port, requests routed by path.
    Functions,
}

/// A built binary of the workspace. `scripts/test` builds them before the tests run.
pub fn binary(name: &str) -> PathBuf {
    // This test runs from target/<profile>/deps; the binaries sit one level up.
    let exe = std::env::current_exe().expect("the test binary's path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>")
        .join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` (scripts/test does)",
        path.display()
    );
    path
}

/// Runs the `pdm` command with only `env` and `args`, off the test's thread (so fakes the
/// test serves can answer it), until it exits.
pub async fn run_pdm(env: Vec<(&'static str, String)>, args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(binary("pdm"))
            .env_clear()
            .envs(env)
            .args(args)
            .output()
            .expect("pdm runs")
    })
    .await
    .expect("the command's thread")
}

/// The URL of the database `db` is connected to.
pub fn database_url(db: &PgPool) -> String {
    let options = db.connect_options();
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    )
}

/// A PDM process listening on a loopback port; killed when dropped.
pub struct Process {
    child: Child,
    pub base: String,
}

impl Process {
    /// Starts `binary` with `env` on a free port and waits until it accepts connections.
    pub async fn start(binary: &str, env: &[(String, String)]) -> Self {
        Self::start_with_stderr(binary, env, Stdio::null()).await
    }

    async fn start_with_stderr(binary: &str, env: &[(String, String)], stderr: Stdio) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut env = env.to_vec();
        env.push(("PORT".to_owned(), port.to_string()));
        let mut process = Self::spawn_with_stderr(binary, &[], &env, stderr);
        process.base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if let Some(status) = process.child.try_wait().unwrap() {
                panic!("{binary} exited before listening: {status}");
            }
            assert!(started.elapsed() < PATIENCE, "{binary} never listened");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        process
    }

    /// Waits until `/readyz` answers 200: the combined server listens at once and applies
    /// its migrations in the background.
    pub async fn wait_until_ready(&mut self) {
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let ready = client.get(format!("{}/readyz", self.base)).send().await;
            if ready.is_ok_and(|response| response.status() == 200) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the process exited before it was ready: {status}");
            }
            assert!(started.elapsed() < PATIENCE, "never ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts `binary args…` with only `env` (and quiet logs) in its environment.
    pub fn spawn(binary: &str, args: &[&str], env: &[(String, String)]) -> Self {
        Self::spawn_with_stderr(binary, args, env, Stdio::null())
    }

    /// Like [`Process::start`], writing the process's logs to `log`.
    pub async fn start_logging(
        binary: &str,
        env: &[(String, String)],
        log: &std::path::Path,
    ) -> Self {
        let file = std::fs::File::create(log).expect("a log file");
        Self::start_with_stderr(binary, env, file.into()).await
    }

    fn spawn_with_stderr(
        binary: &str,
        args: &[&str],
        env: &[(String, String)],
        stderr: Stdio,
    ) -> Self {
        let child = Command::new(self::binary(binary))
            .args(args)
            .env_clear()
            .env("PDM_LOG_LEVEL", "warn")
            // Tests drive bursts from one address; the limits have tests of their own.
            .env("PDM_RATE_LIMITS", "off")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} starts: {e}"));
        Self {
            child,
            base: String::new(),
        }
    }

    /// Runs `binary` with only `env` until it exits by itself: its status and its logs.
    pub async fn run_to_exit(
        binary: &str,
        env: &[(String, String)],
    ) -> (std::process::ExitStatus, String) {
        let log = std::env::temp_dir().join(format!("pdm-exit-{}.log", uuid::Uuid::new_v4()));
        let file = std::fs::File::create(&log).expect("a log file");
        let status = Self::spawn_with_stderr(binary, &[], env, file.into())
            .exit_status()
            .await;
        let logs = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        (status, logs)
    }

    /// Waits for the process to exit by itself.
    pub async fn exit_status(mut self) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(started.elapsed() < PATIENCE, "the process did not exit");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The function template.yaml's `$default` route reaches.
const DEFAULT_ROUTE_FUNCTION: &str = "pdm-health";

/// Real processes and the function each is; `None` stands for the combined server.
pub struct Deployment {
    processes: Vec<(Option<&'static str>, Process)>,
}

impl Deployment {
    pub async fn start(serving: Serving, env: &[(String, String)]) -> Self {
        let processes = match serving {
            Serving::InProcess => Vec::new(),
            Serving::CombinedServer => {
                let mut server = Process::start("pdm-server", env).await;
                server.wait_until_ready().await;
                vec![(None, server)]
            }
            Serving::Functions => {
                let mut processes = Vec::new();
                for function in routes::functions() {
                    processes.push((Some(function), Process::start(function, env).await));
                }
                processes
            }
        };
        Self { processes }
    }

    /// The tiny path router, as API Gateway routes: the function whose route matches the
    /// method and path (HEAD as GET); anything else goes to `$default`, the health function,
    /// which answers the contract's 404 or 405 like any other.
    pub fn base_for(&self, method: &Method, path: &str) -> &str {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        let function = routes::resolve(method, path)
            .filter(|(route, _)| route.method == method)
            .and_then(|(route, _)| route.function)
            .unwrap_or(DEFAULT_ROUTE_FUNCTION);
        self.processes
            .iter()
            .find(|(serves, _)| serves.is_none() || *serves == Some(function))
            .map(|(_, process)| process.base.as_str())
            .expect("a deployment with processes")
    }
}
