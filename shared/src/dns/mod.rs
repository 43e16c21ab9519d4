//! The DNS side: which records a sovereign gets, and the providers that write them.
//! Availability is never read from DNS; providers only publish and withdraw.

pub mod dynadot;
pub mod powerdns;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use secrecy::{ExposeSecret, SecretString};

use crate::domain::{PoolDomain, Subdomain};

/// Hosts a sovereign gets under its subdomain by default (`PDM_SOVEREIGN_HOSTS`), each
/// pointing at its load balancer.
pub const DEFAULT_SOVEREIGN_HOSTS: [&str; 6] = ["*", "console", "gitea", "harbor", "admin", "api"];

/// TTL of the records PDM writes, where the provider sets TTLs per record.
pub const RECORD_TTL: u32 = 300;

/// The records PDM owns for one allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SovereignRecords {
    pub pool: PoolDomain,
    pub sub: Subdomain,
    /// Each host label under `sub` (`*`, `console`) with the address its record points at.
    pub targets: Vec<(String, IpAddr)>,
}

/// Record type for an address: `A`, or `AAAA` for IPv6.
pub fn address_type(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "A",
        IpAddr::V6(_) => "AAAA",
    }
}

impl SovereignRecords {
    /// Every host at `target`, but `console`'s hosts at its own address when a commit gave
    /// one (an isolated console gateway).
    pub fn new(
        pool: PoolDomain,
        sub: Subdomain,
        hosts: &[String],
        target: IpAddr,
        console: Option<(IpAddr, &[String])>,
    ) -> Self {
        let targets = hosts
            .iter()
            .map(|host| {
                let at = match console {
                    Some((console_ip, console_hosts)) if console_hosts.contains(host) => console_ip,
                    _ => target,
                };
                (host.clone(), at)
            })
            .collect();
        Self { pool, sub, targets }
    }

    /// Names relative to the pool domain, e.g. `*.acme`, `console.acme`.
    pub fn relative_names(&self) -> impl Iterator<Item = String> + '_ {
        self.targets
            .iter()
            .map(move |(host, _)| format!("{host}.{}", self.sub))
    }

    /// Records of `zone` at or under the sovereign's label (`acme`, `mail.acme`, `a.b.acme`,
    /// a zone of its own) that PDM would not write there: anything but its own type and
    /// target at its names. Someone else's, until an operator says otherwise.
    pub fn foreign_among(&self, zone: &[ZoneRecord]) -> Vec<ZoneRecord> {
        zone.iter()
            .filter(|r| r.label() == Some(self.sub.as_str()))
            .filter(|r| !self.is_own(r))
            .cloned()
            .collect()
    }

    /// Whether `record` is one PDM writes for this sovereign: its host's type and target at
    /// that host's name.
    pub fn is_own(&self, record: &ZoneRecord) -> bool {
        self.own_records().any(|own| {
            own.name.eq_ignore_ascii_case(&record.name)
                && own.record_type.eq_ignore_ascii_case(&record.record_type)
                && own.value == record.value
        })
    }

    /// The records PDM writes for this sovereign, one per host.
    pub fn own_records(&self) -> impl Iterator<Item = ZoneRecord> + '_ {
        self.targets.iter().map(move |(host, ip)| {
            ZoneRecord::new(
                &format!("{host}.{}", self.sub),
                address_type(*ip),
                &ip.to_string(),
            )
        })
    }
}

/// What publishing may replace under `policy`: nothing foreign at or under the sovereign's
/// label ([`DnsError::Conflict`] naming what stands there), or, adopting, the foreign records
/// a publish replaces (address and CNAME records at its names; everything else stays).
pub fn adoptable(
    records: &SovereignRecords,
    zone: &[ZoneRecord],
    policy: ForeignRecords,
) -> Result<Vec<ZoneRecord>, DnsError> {
    let standing = records.foreign_among(zone);
    if !standing.is_empty() && policy == ForeignRecords::Refuse {
        return Err(DnsError::Conflict(standing));
    }
    let names: Vec<String> = records.relative_names().collect();
    Ok(standing
        .into_iter()
        .filter(|r| names.iter().any(|n| r.name.eq_ignore_ascii_case(n)))
        .filter(ZoneRecord::is_replaced_by_publishing)
        .collect())
}

/// One record of a zone, as PDM saw it.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    sqlx::FromRow,
)]
pub struct ZoneRecord {
    /// Relative to the pool, e.g. `console.acme`.
    pub name: String,
    /// Upper case, e.g. `A`, `CNAME`.
    pub record_type: String,
    pub value: String,
}

impl ZoneRecord {
    pub fn new(name: &str, record_type: &str, value: &str) -> Self {
        Self {
            name: name.to_ascii_lowercase(),
            record_type: record_type.to_ascii_uppercase(),
            value: value.to_owned(),
        }
    }

    fn is_address(&self) -> bool {
        matches!(self.record_type.as_str(), "A" | "AAAA")
    }

    /// The sovereign label the record stands at or under (`old.legacy3` and `legacy3` →
    /// `legacy3`); `None` at the zone's apex.
    pub fn label(&self) -> Option<&str> {
        self.name
            .rsplit('.')
            .next()
            .filter(|label| !label.is_empty() && *label != "@")
    }

    /// Publishing replaces address and CNAME records at the sovereign's names: a CNAME could
    /// not stand beside PDM's address.
    pub fn is_replaced_by_publishing(&self) -> bool {
        self.is_address() || self.record_type == "CNAME"
    }
}

impl fmt::Display for ZoneRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.name, self.record_type, self.value)
    }
}

/// Records as one line, for details and audit events.
pub fn listed(records: &[ZoneRecord]) -> String {
    records
        .iter()
        .map(ZoneRecord::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a zone holds after a read or a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneUsage {
    /// The most sub records the zone may hold, when the provider has a limit.
    pub record_limit: Option<usize>,
    /// Every sub record (relative to the pool).
    pub records: Vec<ZoneRecord>,
}

impl ZoneUsage {
    /// Whether `record` is PDM's by `owned` (the lower-case `host.label` names of live
    /// allocations): an address record at one of them, or a delegation (NS, DS) at one of
    /// their labels, which child-zone mode writes.
    pub fn is_owned(record: &ZoneRecord, owned: &[String]) -> bool {
        let delegation = matches!(record.record_type.as_str(), "NS" | "DS")
            && owned.iter().any(|name| {
                name.split_once('.')
                    .is_some_and(|(_, label)| label == record.name)
            });
        (record.is_address() && owned.contains(&record.name)) || delegation
    }
}

/// Whether a publish may replace records PDM did not write at the sovereign's names
/// (`PDM_FOREIGN_RECORDS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForeignRecords {
    /// Refuse the name (check, reserve, commit) and never overwrite them: the default.
    #[default]
    Refuse,
    /// Replace them, recording what was replaced in the audit trail.
    Adopt,
}

/// One change a zone owes the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Write the sovereign's records.
    Publish(SovereignRecords),
    /// Remove exactly the sovereign's records.
    Withdraw(SovereignRecords),
}

impl Change {
    /// The metrics' name for it.
    pub fn operation(&self) -> &'static str {
        match self {
            Self::Publish(_) => "publish",
            Self::Withdraw(_) => "withdraw",
        }
    }

    pub fn records(&self) -> &SovereignRecords {
        match self {
            Self::Publish(records) | Self::Withdraw(records) => records,
        }
    }
}

/// What one batch of changes to a zone did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// The zone after the batch, when the provider read it.
    pub zone: Option<ZoneUsage>,
    /// Each change's outcome, in order: the records PDM did not write that it replaced (only
    /// when adopting), or why this change alone was not made.
    pub outcomes: Vec<Result<Vec<ZoneRecord>, DnsError>>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DnsError {
    /// The provider could not be reached or failed in passing; retrying may help.
    #[error("DNS provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the change.
    #[error("DNS change refused: {0}")]
    Refused(String),
    /// Records PDM did not write stand at the sovereign's names, and it may not replace them.
    #[error("records PDM did not write stand at the sovereign's names: {}", listed(.0))]
    Conflict(Vec<ZoneRecord>),
    /// The change cannot be made, said in PDM's own words, never the provider's: a parked
    /// zone, a zone over its limit, no such zone, a refused key.
    #[error("DNS change not made: {0}")]
    Unwritable(String),
    /// The zone has no room for the change's records (a provider's record limit).
    #[error("DNS change not made: {0}")]
    Full(String),
}

impl DnsError {
    pub fn is_passing(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// The metrics' outcome label.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "unavailable",
            Self::Refused(_) | Self::Unwritable(_) | Self::Full(_) => "refused",
            Self::Conflict(_) => "conflict",
        }
    }

    /// What PDM stores and serves of a failure (`dns_last_error`, the audit trail, history):
    /// a code and a reason of PDM's own. The provider's text goes only to the log, scrubbed,
    /// since a provider may quote anything back, the request and its key included.
    pub fn classified(&self) -> String {
        match self {
            Self::Unavailable(_) => "dns-unavailable: the DNS provider could not be reached or \
                                     failed in passing; PDM retries"
                .to_owned(),
            Self::Refused(_) => "dns-refused: the DNS provider refused the change; PDM's log \
                                 has its answer"
                .to_owned(),
            Self::Unwritable(why) => format!("dns-unwritable: {why}"),
            Self::Full(why) => format!("pool-full: {why}"),
            Self::Conflict(records) => format!("dns-conflict: {}", listed(records)),
        }
    }

    /// Error texts quote what a provider sent back: the same error with `key` scrubbed.
    fn redacted(self, key: &SecretString) -> Self {
        let scrub = |message: String| scrub(message, key.expose_secret());
        match self {
            Self::Unavailable(message) => Self::Unavailable(scrub(message)),
            Self::Refused(message) => Self::Refused(scrub(message)),
            Self::Unwritable(message) => Self::Unwritable(scrub(message)),
            Self::Full(message) => Self::Full(scrub(message)),
            Self::Conflict(records) => Self::Conflict(records),
        }
    }
}

/// `text` without `secret` in any form an answer may carry it: raw, form-encoded (`+` for a
/// space), percent-encoded (`%20`), either case of hex, escaped in JSON (as serde writes it,
/// with every non-ASCII character as `\uXXXX` in either case, with `/` as `\/`), or as XML
/// or HTML text (`&amp;`, `&lt;`, `&#39;`).
pub fn scrub(mut text: String, secret: &str) -> String {
    if secret.is_empty() {
        return text;
    }
    let form: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let percent = form.replace('+', "%20");
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json.trim_matches('"');
    let ascii_json = json_ascii(json, false);
    let mut forms = vec![
        secret.to_owned(),
        json.to_owned(),
        json.replace('/', "\\/"),
        ascii_json.replace('/', "\\/"),
        json_ascii(json, true),
        ascii_json,
        xml_escaped(secret, "&#39;", "&#34;"),
        xml_escaped(secret, "&apos;", "&quot;"),
        xml_escaped(secret, "&#x27;", "&#x22;"),
    ];
    for encoded in [form, percent] {
        forms.push(lowercase_hex(&encoded));
        forms.push(encoded);
    }
    // Longest first, so that a form containing another is replaced whole.
    forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
    for form in forms {
        if !form.is_empty() {
            text = text.replace(&form, "[REDACTED]");
        }
    }
    text
}

/// A JSON string's body with every non-ASCII character as `\uXXXX` (UTF-16), its hex in
/// upper or lower case.
fn json_ascii(json: &str, upper: bool) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut [0; 2]) {
                out.push_str(&if upper {
                    format!("\\u{unit:04X}")
                } else {
                    format!("\\u{unit:04x}")
                });
            }
        }
    }
    out
}

/// `text` as XML or HTML character data, with `apostrophe` and `quote` as given.
fn xml_escaped(text: &str, apostrophe: &str, quote: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str(apostrophe),
            '"' => out.push_str(quote),
            c => out.push(c),
        }
    }
    out
}

/// `%2F` as `%2f`: both decode alike.
fn lowercase_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut hex_left = 0;
    for c in encoded.chars() {
        if c == '%' {
            hex_left = 2;
            out.push(c);
        } else if hex_left > 0 {
            hex_left -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// How often and how patiently a passing failure is retried within one call.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
        }
    }
}

impl RetryPolicy {
    /// Runs `attempt` again, with backoff and jitter, while it fails in passing. Every error,
    /// logged or returned, has `key` scrubbed from its text first.
    async fn run<T, Fut>(
        &self,
        what: &str,
        key: &SecretString,
        mut attempt: impl FnMut() -> Fut,
    ) -> Result<T, DnsError>
    where
        Fut: Future<Output = Result<T, DnsError>>,
    {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.attempts.saturating_sub(1))
            .with_jitter();
        let redacted_attempt = || {
            let attempt = attempt();
            async move { attempt.await.map_err(|error| error.redacted(key)) }
        };
        redacted_attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(DnsError::is_passing)
            .notify(|error, delay| {
                tracing::warn!(what, error.message = %error, ?delay, "DNS provider call failed; retrying");
            })
            .await
    }
}

/// The HTTP client of a provider: rustls, a whole-request timeout, fixed headers, no
/// redirects (see [`crate::outbound`]).
fn http_client(
    timeout: Duration,
    headers: reqwest::header::HeaderMap,
) -> Result<reqwest::Client, DnsError> {
    crate::outbound::client(timeout, headers).map_err(|e| {
        DnsError::Refused(format!("cannot build the HTTP client: {}", e.without_url()))
    })
}

/// Writes and removes a sovereign's records. Both are idempotent, so a retry converges.
/// Callers serialize calls that share a [`lock_key`](DnsProvider::lock_key).
#[async_trait::async_trait]
pub trait DnsProvider: Send + Sync {
    /// A short name for logs and startup messages.
    fn name(&self) -> &'static str;
    /// Changes with the same key must never overlap, in any replica.
    fn lock_key(&self, pool: &PoolDomain) -> String {
        format!("zone:{pool}")
    }
    /// The most sub records a zone may hold, when the provider has such a limit.
    fn record_limit(&self) -> Option<usize> {
        None
    }
    /// How long a writer holding the zone's lock waits for more changes before it reads what
    /// the zone owes: worth it where a call costs hundreds of milliseconds, as a burst's
    /// changes then share one batch (group commit's commit delay).
    fn batch_window(&self) -> Duration {
        Duration::ZERO
    }
    /// Whether [`usage`](DnsProvider::usage) shows the zone, so PDM keeps what it saw.
    fn reads_zones(&self) -> bool {
        false
    }
    /// Applies `changes` to one zone in as few provider calls as the provider allows (Dynadot:
    /// one read and one write), keeping every other record as it is. A change the zone cannot
    /// take (records PDM did not write at its names, unless `foreign` adopts them; a zone over
    /// its limit) fails alone, in its outcome. `Err` when the batch as a whole failed: nothing
    /// of it can be counted on, and all of it is retried.
    async fn apply(
        &self,
        pool: &PoolDomain,
        changes: &[Change],
        foreign: ForeignRecords,
    ) -> Result<Applied, DnsError>;
    /// The zone's A/AAAA sub records as (relative name, value), to compare with the table.
    /// `None` when the provider has no zone to show.
    async fn address_records(
        &self,
        _pool: &PoolDomain,
    ) -> Result<Option<Vec<(String, String)>>, DnsError> {
        Ok(None)
    }
    /// Reads what the zone holds, when the provider can show it.
    async fn usage(&self, _pool: &PoolDomain) -> Result<Option<ZoneUsage>, DnsError> {
        Ok(None)
    }
}

/// Writes nothing and logs what it would do: local runs without a Dynadot key.
#[derive(Debug, Default)]
pub struct LogOnly;

#[async_trait::async_trait]
impl DnsProvider for LogOnly {
    fn name(&self) -> &'static str {
        "log-only"
    }

    async fn apply(
        &self,
        pool: &PoolDomain,
        changes: &[Change],
        _: ForeignRecords,
    ) -> Result<Applied, DnsError> {
        for change in changes {
            let records = change.records();
            let names: Vec<String> = records.relative_names().collect();
            match change {
                Change::Publish(_) => {
                    let published: Vec<String> =
                        records.own_records().map(|r| r.to_string()).collect();
                    tracing::info!(%pool, ?published, "log-only DNS: would publish records");
                }
                Change::Withdraw(_) => {
                    tracing::info!(%pool, ?names, "log-only DNS: would withdraw records");
                }
            }
        }
        Ok(Applied {
            zone: None,
            outcomes: changes.iter().map(|_| Ok(Vec::new())).collect(),
        })
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
}

#[async_trait::async_trait]
impl DnsProvider for InMemory {
    fn name(&self) -> &'static str {
        "in-memory"
    }

    async fn address_records(
        &self,
        pool: &PoolDomain,
    ) -> Result<Option<Vec<(String, String)>>, DnsError> {
        let zone = self.zone(pool.as_str());
        Ok(Some(
            zone.into_iter()
                .map(|(name, ip)| (name, ip.to_string()))
                .collect(),
        ))
    }

    async fn apply(
        &self,
        pool: &PoolDomain,
        changes: &[Change],
        _: ForeignRecords,
    ) -> Result<Applied, DnsError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(DnsError::Unavailable(
                "in-memory provider is failing".to_owned(),
            ));
        }
        let mut zone = self.lock();
        for change in changes {
            let records = change.records();
            for (name, (_, target)) in records.relative_names().zip(&records.targets) {
                let key = (pool.to_string(), name);
                match change {
                    Change::Publish(_) => zone.insert(key, *target),
                    Change::Withdraw(_) => zone.remove(&key),
                };
            }
        }
        Ok(Applied {
            zone: None,
            outcomes: changes.iter().map(|_| Ok(Vec::new())).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::scrub;

    #[test]
    fn every_encoding_an_answer_may_carry_a_secret_in_is_scrubbed() {
        let secret = "k3y/é&<'\"x";
        let carried = [
            secret.to_owned(),
            // JSON: as serde writes it, with \uXXXX for non-ASCII in either case, with \/.
            r#"k3y/é&<'\"x"#.to_owned(),
            r#"k3y\/\u00e9&<'\"x"#.to_owned(),
            r#"k3y/\u00E9&<'\"x"#.to_owned(),
            // XML and HTML entities.
            "k3y/é&amp;&lt;&apos;&quot;x".to_owned(),
            "k3y/é&amp;&lt;&#39;&#34;x".to_owned(),
            // Form and percent encodings, hex in either case.
            "k3y%2F%C3%A9%26%3C%27%22x".to_owned(),
            "k3y%2f%c3%a9%26%3c%27%22x".to_owned(),
        ];
        for form in carried {
            let text = format!("before {form} after");
            assert_eq!(scrub(text, secret), "before [REDACTED] after", "{form}");
        }
    }
}
