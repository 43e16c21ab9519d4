//! A real AWS emulator per test: moto's server mode (PyPI `moto[server]`, installed by
//! `scripts/test`), reached by PDM through `AWS_ENDPOINT_URL` with the real SDK. Setting it
//! up needs no SDK here: moto answers the documented wire protocols (Secrets Manager's JSON
//! over `X-Amz-Target`, IAM's form-encoded query API), and checks no signature until
//! `INITIAL_NO_AUTH_ACTION_COUNT` requests have been served.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const REGION: &str = "eu-central-1";

pub struct Moto {
    child: Child,
    pub url: String,
    client: reqwest::Client,
    /// Where moto's recorder writes: its own file, as tests run side by side (moto's default
    /// is one file in the working directory, shared by every server).
    recording: std::path::PathBuf,
}

/// Credentials of an IAM user, as a process's environment.
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl Moto {
    /// A moto server that checks nothing.
    pub async fn start() -> Self {
        Self::spawn(None).await
    }

    /// A moto server that enforces IAM (signatures and policies) once `setup_requests`
    /// requests have been served: enough for the test to create what it needs first.
    pub async fn enforcing_iam_after(setup_requests: u32) -> Self {
        Self::spawn(Some(setup_requests)).await
    }

    async fn spawn(enforce_after: Option<u32>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let recording =
            std::env::temp_dir().join(format!("pdm-moto-{}.recording", uuid::Uuid::new_v4()));
        let mut command = Command::new("python3");
        command
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .env("MOTO_RECORDER_FILEPATH", &recording)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(count) = enforce_after {
            command.env("INITIAL_NO_AUTH_ACTION_COUNT", count.to_string());
        }
        let child = command
            .spawn()
            .expect("python3 -m moto.server starts (pip install 'moto[server]')");
        let moto = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            recording,
        };
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto never listened (is moto[server] installed?)"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        moto
    }

    /// An Authorization header naming `service` and the region, as moto routes by it; its
    /// signature is checked only once IAM is enforced.
    fn unsigned(service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261201/{REGION}/{service}/aws4_request, \
             SignedHeaders=host, Signature=0"
        )
    }

    /// Creates the secret `name` holding `text`; its ARN.
    pub async fn create_secret(&self, name: &str, text: &str) -> String {
        let answer: Value = self
            .client
            .post(&self.url)
            .header("authorization", Self::unsigned("secretsmanager"))
            .header("x-amz-target", "secretsmanager.CreateSecret")
            .header("content-type", "application/x-amz-json-1.1")
            .body(json!({"Name": name, "SecretString": text}).to_string())
            .send()
            .await
            .expect("moto answers")
            .json()
            .await
            .expect("CreateSecret answers JSON");
        answer["ARN"].as_str().expect("an ARN").to_owned()
    }

    /// An IAM user with an access key and no policy at all: every call it signs is denied.
    pub async fn user_without_permissions(&self, name: &str) -> Credentials {
        self.iam(&[("Action", "CreateUser"), ("UserName", name)])
            .await;
        let key = self
            .iam(&[("Action", "CreateAccessKey"), ("UserName", name)])
            .await;
        let field = |tag: &str| {
            let open = format!("<{tag}>");
            let start = key.find(&open).expect("the key's field") + open.len();
            let end = start + key[start..].find('<').expect("its end");
            key[start..end].to_owned()
        };
        Credentials {
            access_key_id: field("AccessKeyId"),
            secret_access_key: field("SecretAccessKey"),
        }
    }

    async fn iam(&self, params: &[(&str, &str)]) -> String {
        let form = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .append_pair("Version", "2010-05-08")
            .finish();
        self.client
            .post(&self.url)
            .header("authorization", Self::unsigned("iam"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .expect("moto answers")
            .text()
            .await
            .expect("IAM answers")
    }

    /// Starts moto's recorder: every request from now on is kept.
    pub async fn start_recording(&self) {
        self.client
            .post(format!("{}/moto-api/recorder/start-recording", self.url))
            .send()
            .await
            .expect("moto answers");
    }

    /// The operations (`secretsmanager.GetSecretValue`, …) of the recorded requests, in order.
    pub async fn recorded_operations(&self) -> Vec<String> {
        let recording = self
            .client
            .get(format!("{}/moto-api/recorder/download-recording", self.url))
            .send()
            .await
            .expect("moto answers")
            .text()
            .await
            .expect("a recording");
        recording
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let request: Value = serde_json::from_str(line).expect("a recorded request");
                request["headers"]["X-Amz-Target"]
                    .as_str()
                    .unwrap_or("?")
                    .to_owned()
            })
            .collect()
    }

    /// The environment that sends a process's AWS calls here, signed with `credentials`.
    pub fn env(&self, credentials: Option<&Credentials>) -> Vec<(String, String)> {
        let (id, secret) = credentials.map_or(("testing", "testing"), |c| {
            (c.access_key_id.as_str(), c.secret_access_key.as_str())
        });
        [
            ("AWS_ENDPOINT_URL", self.url.as_str()),
            ("AWS_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", id),
            ("AWS_SECRET_ACCESS_KEY", secret),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.recording);
    }
}
