//! A real PowerDNS authoritative server per test, started and stopped by `scripts/pdns`, with
//! its own SQLite data, loopback ports and the pool zones holding a few foreign records.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use pdm_core::dns::RetryPolicy;
use pdm_core::dns::powerdns::{ChildZones, Delegation, PowerDns, RrSet};
use pdm_core::domain::ManagedDomains;

/// The PowerDNS API key of the tests: recognizable, so a test can prove it never leaks.
pub const PDNS_KEY: &str = "pdns-test-key-8d21aa";

/// The fleet's name servers in the child-zone tests.
pub const FLEET_NAMESERVERS: [&str; 2] = ["ns1.openova.io.", "ns2.openova.io."];

pub struct PdnsServer {
    dir: PathBuf,
    pub dns_port: u16,
    pub api_port: u16,
    pub url: String,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/pdns")
}

fn free_port() -> u16 {
    // The DNS port must be free for UDP and TCP alike; taking it from UDP and checking TCP
    // leaves only a tiny window for another test to take it.
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("a free UDP port");
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl PdnsServer {
    /// Starts a server holding the zones `omani.works` and `openova.io`.
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("pdm-pdns-{}", uuid::Uuid::new_v4()));
        let api_port = free_port();
        let server = Self {
            dir,
            dns_port: free_port(),
            api_port,
            url: format!("http://127.0.0.1:{api_port}"),
        };
        server.run("start");
        server
    }

    /// Stops the server, keeping its data, as an outage would.
    pub fn stop(&self) {
        self.run("stop");
    }

    /// Starts it again on the same ports with the same data.
    pub fn restart(&self) {
        self.run("start");
    }

    fn run(&self, command: &str) {
        let dir = self.dir.to_str().expect("a UTF-8 temp dir");
        let mut args = vec![command, dir];
        let ports = [self.dns_port.to_string(), self.api_port.to_string()];
        if command == "start" {
            args.extend(ports.iter().map(String::as_str));
            args.extend(["omani.works", "openova.io"]);
        }
        let output = Command::new(script())
            .args(&args)
            .env("PDNS_API_KEY", PDNS_KEY)
            .output()
            .expect("scripts/pdns runs");
        assert!(
            output.status.success(),
            "scripts/pdns {command} failed (is PowerDNS installed? `scripts/pdns install`):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A client of this server's API writing records into the pool zone, retrying passing
    /// failures quickly.
    pub fn client(&self) -> PowerDns {
        self.client_publishing(Delegation::Records)
    }

    /// A client publishing each sovereign as `delegation` says.
    pub fn client_publishing(&self, delegation: Delegation) -> PowerDns {
        PowerDns::new(
            &self.url,
            "localhost",
            PDNS_KEY.into(),
            Duration::from_secs(5),
            RetryPolicy {
                attempts: 3,
                min_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(20),
            },
            delegation,
        )
        .expect("a PowerDNS client")
    }

    /// Every RRset of `pool` but the SOA (whose serial moves with each change), sorted.
    pub async fn rrsets(&self, pool: &str) -> Vec<RrSet> {
        let pool = ManagedDomains::parse(pool).unwrap().resolve(pool).unwrap();
        let mut rrsets: Vec<RrSet> = self
            .client()
            .rrsets(&pool)
            .await
            .expect("the zone reads")
            .into_iter()
            .filter(|rrset| rrset.kind != "SOA")
            .collect();
        rrsets.sort_by(|a, b| (&a.name, &a.kind).cmp(&(&b.name, &b.kind)));
        rrsets
    }

    /// `dig`'s whole answer for `name`'s `kind` records, with DNSSEC records when `dnssec`.
    pub fn dig(&self, name: &str, kind: &str, dnssec: bool) -> String {
        let port = self.dns_port.to_string();
        let mut args = vec!["@127.0.0.1", "-p", &port, "+norec", "+tries=3", "+time=2"];
        if dnssec {
            args.push("+dnssec");
        }
        args.extend([name, kind]);
        let output = Command::new("dig")
            .args(&args)
            .output()
            .expect("dig runs (Debian's dnsutils; `scripts/pdns install`)");
        assert!(output.status.success(), "dig {name} failed");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The API's answer to `GET path` (below the server), `None` for 404.
    pub async fn api_get(&self, path: &str) -> Option<serde_json::Value> {
        let response = reqwest::Client::new()
            .get(format!("{}/api/v1/servers/localhost/{path}", self.url))
            .header("x-api-key", PDNS_KEY)
            .send()
            .await
            .expect("PowerDNS answers");
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return None;
        }
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        Some(response.json().await.expect("JSON"))
    }

    /// Creates `zone` with PowerDNS's default SOA and no records or keys, under `account`:
    /// `pdm` for what a half-made attempt of PDM's leaves, anything else for an operator's.
    pub async fn create_bare_zone(&self, zone: &str, account: &str) {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/servers/localhost/zones", self.url))
            .header("x-api-key", PDNS_KEY)
            .json(&serde_json::json!({"name": zone, "kind": "Native", "account": account, "nameservers": ["ns9.example."]}))
            .send()
            .await
            .expect("PowerDNS answers");
        assert!(
            response.status().is_success(),
            "create {zone}: {}",
            response.status()
        );
    }

    /// What the server answers over DNS for `name`'s `kind` records (`dig +short`).
    pub fn resolve(&self, name: &str, kind: &str) -> Vec<String> {
        let output = Command::new("dig")
            .args([
                "@127.0.0.1",
                "-p",
                &self.dns_port.to_string(),
                "+short",
                "+tries=3",
                "+time=2",
                name,
                kind,
            ])
            .output()
            .expect("dig runs (Debian's dnsutils; `scripts/pdns install`)");
        assert!(output.status.success(), "dig {name} failed");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for PdnsServer {
    fn drop(&mut self) {
        // Stop by the pid the script wrote, never by process group: tests share the machine.
        let _ = Command::new(script())
            .args(["stop", self.dir.to_str().unwrap_or_default()])
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl crate::TestApp {
    /// PDM writing DNS to `server` through the PowerDNS provider.
    pub fn with_powerdns(db: sqlx::PgPool, server: &PdnsServer) -> Self {
        Self::with_powerdns_configured(db, server, &[])
    }

    /// PDM publishing each sovereign in a child zone of `server`, signed when `dnssec`.
    pub fn with_powerdns_child_zones(db: sqlx::PgPool, server: &PdnsServer, dnssec: bool) -> Self {
        let delegation = Delegation::ChildZone(ChildZones {
            nameservers: FLEET_NAMESERVERS.iter().map(|ns| ns.to_string()).collect(),
            dnssec,
        });
        Self::with_provider(
            db,
            &crate::config(&[]),
            std::sync::Arc::new(server.client_publishing(delegation)),
        )
    }

    pub fn with_powerdns_configured(
        db: sqlx::PgPool,
        server: &PdnsServer,
        overrides: &[(&str, &str)],
    ) -> Self {
        Self::with_provider(
            db,
            &crate::config(overrides),
            std::sync::Arc::new(server.client()),
        )
    }
}
