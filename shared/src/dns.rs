//! The DNS side: which records a sovereign gets, and the providers that write them.
//! Availability is never read from DNS; providers only publish and withdraw.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::domain::{PoolDomain, Subdomain};

/// Hosts a sovereign gets under its subdomain, each pointing at its load balancer.
pub const SOVEREIGN_HOSTS: [&str; 6] = ["*", "console", "gitea", "harbor", "admin", "api"];
/// TTL of the records PDM writes, in seconds.
pub const RECORD_TTL: u32 = 300;

/// The records PDM owns for one allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SovereignRecords {
    pub pool: PoolDomain,
    pub sub: Subdomain,
    pub target: IpAddr,
}

impl SovereignRecords {
    /// Record type for the target: `A`, or `AAAA` for an IPv6 load balancer.
    pub fn record_type(&self) -> &'static str {
        match self.target {
            IpAddr::V4(_) => "A",
            IpAddr::V6(_) => "AAAA",
        }
    }

    /// Names relative to the pool domain, e.g. `*.acme`, `console.acme`.
    pub fn relative_names(&self) -> impl Iterator<Item = String> + '_ {
        SOVEREIGN_HOSTS
            .iter()
            .map(move |host| format!("{host}.{}", self.sub))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The provider could not be reached or answered with a passing failure; retry later.
    #[error("DNS provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the change; retrying the same change will not help.
    #[error("DNS provider refused the change: {0}")]
    Refused(String),
}

/// Writes and removes a sovereign's records. Both operations are idempotent, so a retry of
/// either converges.
#[async_trait::async_trait]
pub trait DnsProvider: Send + Sync {
    /// A short name for logs and startup messages.
    fn name(&self) -> &'static str;
    /// Creates or replaces the sovereign's records; every other record stays as it is.
    async fn publish(&self, records: &SovereignRecords) -> Result<(), DnsError>;
    /// Removes exactly the sovereign's records; every other record stays as it is.
    async fn withdraw(&self, records: &SovereignRecords) -> Result<(), DnsError>;
}

/// Writes nothing and logs what it would do: local runs without a Dynadot key.
#[derive(Debug, Default)]
pub struct LogOnly;

#[async_trait::async_trait]
impl DnsProvider for LogOnly {
    fn name(&self) -> &'static str {
        "log-only"
    }

    async fn publish(&self, records: &SovereignRecords) -> Result<(), DnsError> {
        let names: Vec<String> = records.relative_names().collect();
        tracing::info!(
            pool = %records.pool, ?names, r#type = records.record_type(), target = %records.target,
            "log-only DNS: would publish records"
        );
        Ok(())
    }

    async fn withdraw(&self, records: &SovereignRecords) -> Result<(), DnsError> {
        let names: Vec<String> = records.relative_names().collect();
        tracing::info!(pool = %records.pool, ?names, "log-only DNS: would withdraw records");
        Ok(())
    }
}

/// Keeps records in memory; its failures can be switched on to exercise the pending paths.
#[derive(Debug, Default)]
pub struct InMemory {
    /// (pool, relative name) → target.
    records: Mutex<BTreeMap<(String, String), IpAddr>>,
    failing: AtomicBool,
}

impl InMemory {
    /// While set, every call fails as an unreachable provider would.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// The records of `pool` as `name → target`.
    pub fn zone(&self, pool: &str) -> BTreeMap<String, IpAddr> {
        self.lock()
            .iter()
            .filter(|((p, _), _)| p == pool)
            .map(|((_, name), ip)| (name.clone(), *ip))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), IpAddr>> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn check_reachable(&self) -> Result<(), DnsError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(DnsError::Unavailable(
                "in-memory provider is failing".to_owned(),
            ));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl DnsProvider for InMemory {
    fn name(&self) -> &'static str {
        "in-memory"
    }

    async fn publish(&self, records: &SovereignRecords) -> Result<(), DnsError> {
        self.check_reachable()?;
        let mut zone = self.lock();
        for name in records.relative_names() {
            zone.insert((records.pool.to_string(), name), records.target);
        }
        Ok(())
    }

    async fn withdraw(&self, records: &SovereignRecords) -> Result<(), DnsError> {
        self.check_reachable()?;
        let mut zone = self.lock();
        for name in records.relative_names() {
            zone.remove(&(records.pool.to_string(), name));
        }
        Ok(())
    }
}
