//! Bring-your-own domains: the customer's registrar, reached with the customer's own token
//! for one request, to confirm the domain is theirs, point it at the fleet's name servers, or
//! write records. One trait, one adapter per registrar.
//!
//! The token lives only for the request: it is never stored, and it reaches no log, no error
//! and no answer. Errors are PDM's own words ([`RegistrarError`]); what a registrar answered
//! goes only to the log, with the token scrubbed from it in every encoding, since registrars
//! may echo a request back.

pub mod cloudflare;
pub mod dynadot;
pub mod godaddy;
pub mod namecheap;
pub mod ovh;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::Error;
use crate::dns::scrub;

/// The customer's credentials as they sent them (an API token, or `key:secret` where the
/// registrar needs two parts); `Debug` shows none of it.
#[derive(Clone)]
pub struct Token(SecretString);

impl Token {
    pub fn new(raw: &str) -> Self {
        Self(SecretString::from(raw.trim()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The token's `parts` parts, split at `:` (GoDaddy's `key:secret`, OVH's three keys);
    /// `InvalidToken` when it has another shape.
    pub fn parts<const N: usize>(&self) -> Result<[&str; N], RegistrarError> {
        let parts: Vec<&str> = self.expose().splitn(N, ':').collect();
        let parts: [&str; N] = parts.try_into().map_err(|_| RegistrarError::InvalidToken)?;
        if parts.iter().any(|part| part.is_empty()) {
            return Err(RegistrarError::InvalidToken);
        }
        Ok(parts)
    }

    /// `text` with the token, and each of its parts, scrubbed.
    pub fn scrubbed(&self, text: &str) -> String {
        let mut text = scrub(text.to_owned(), self.expose());
        for part in self.expose().split(':').filter(|part| part.len() >= 4) {
            text = scrub(text, part);
        }
        text
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([REDACTED])")
    }
}

/// Why a registrar call did not do what was asked, in PDM's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrarError {
    #[error("the registrar does not accept this token")]
    InvalidToken,
    #[error("the domain is not in the account this token opens")]
    DomainNotInAccount,
    #[error("the registrar is limiting requests; retry later")]
    RateLimited { retry_after: Option<u64> },
    #[error("the registrar could not be reached or failed; retry later")]
    Unavailable,
    /// The registrar refused the change itself (a name server it does not know, a record it
    /// will not take); what it said is in PDM's log.
    #[error("the registrar refused the change: {0}")]
    Refused(&'static str),
    #[error("{0} has no API to write DNS records; point the domain's name servers instead")]
    SetDnsNotSupported(&'static str),
    #[error("{0} does not let its API change a domain's name servers")]
    SetNsNotSupported(&'static str),
}

impl RegistrarError {
    /// The contract's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidToken => "invalid-token",
            Self::DomainNotInAccount => "domain-not-in-account",
            Self::RateLimited { .. } => "rate-limited",
            Self::Unavailable => "api-unavailable",
            Self::Refused(_) => "registrar-refused",
            Self::SetDnsNotSupported(_) => "set-dns-not-supported",
            Self::SetNsNotSupported(_) => "set-ns-not-supported",
        }
    }
}

/// One record to write at the registrar.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Record {
    #[serde(rename = "type")]
    pub kind: RecordType,
    /// Relative to the domain: `@` for the apex, `www`, `_dmarc`.
    pub name: String,
    pub value: String,
    #[serde(default = "default_ttl", deserialize_with = "whole_number")]
    pub ttl: u32,
    /// MX only.
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub priority: Option<u16>,
}

fn default_ttl() -> u32 {
    3600
}

/// A whole number, also when written `300.0`: JSON (and JSON Schema's `integer`) does not
/// tell the two apart.
fn whole_number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::de::Error;
    let number = serde_json::Number::deserialize(deserializer)?;
    let whole = number.as_u64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(f))
            // Whole and within u32: the cast is exact.
            .map(|f| {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let whole = f as u64;
                whole
            })
    });
    whole
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| D::Error::custom(format!("{number} is not a whole number in range")))
}

fn optional_whole_number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    whole_number(deserializer).map(Some)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RecordType {
    A,
    Aaaa,
    Cname,
    Mx,
    Txt,
}

impl RecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::Aaaa => "AAAA",
            Self::Cname => "CNAME",
            Self::Mx => "MX",
            Self::Txt => "TXT",
        }
    }
}

impl Record {
    /// Whether the record can be written as it is: checked before any registrar is called.
    pub fn validate(&self) -> Result<(), String> {
        // Owner names may hold `_` (`_dmarc`, `_acme-challenge`), unlike host names.
        let label_ok = |label: &str| {
            (1..=63).contains(&label.len())
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        let name_ok = self.name == "@"
            || self
                .name
                .split('.')
                .enumerate()
                .all(|(i, label)| (i == 0 && label == "*") || label_ok(label));
        if !name_ok {
            return Err(format!(
                "record name {:?} is not @ or a relative name",
                self.name
            ));
        }
        let value = self.value.trim();
        let ok = match self.kind {
            RecordType::A => value.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv4()),
            RecordType::Aaaa => value.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv6()),
            RecordType::Cname | RecordType::Mx => {
                crate::domain::is_hostname(value.trim_end_matches('.'))
            }
            RecordType::Txt => !value.is_empty() && value.len() <= 4096,
        };
        if !ok {
            return Err(format!("{} record value is not valid", self.kind.as_str()));
        }
        if (self.kind == RecordType::Mx) != self.priority.is_some() {
            return Err("priority is required for MX records, and only for them".to_owned());
        }
        if !(60..=86_400).contains(&self.ttl) {
            return Err("ttl must be from 60 to 86400 seconds".to_owned());
        }
        Ok(())
    }
}

/// A registrar's API, used with the customer's token for one request.
#[async_trait::async_trait]
pub trait Registrar: Send + Sync + fmt::Debug {
    /// The `{registrar}` of the routes: `cloudflare`, `godaddy`, …
    fn name(&self) -> &'static str;

    /// Confirms the token opens the account and the domain is in it; writes nothing.
    async fn validate(&self, token: &Token, domain: &str) -> Result<(), RegistrarError>;

    /// The domain's name servers as the registrar holds them.
    async fn nameservers(&self, token: &Token, domain: &str)
    -> Result<Vec<String>, RegistrarError>;

    /// Replaces the domain's name servers.
    async fn set_nameservers(
        &self,
        token: &Token,
        domain: &str,
        nameservers: &[String],
    ) -> Result<(), RegistrarError>;

    /// Writes `records` (replacing what stands at the same name and type).
    async fn set_records(
        &self,
        _token: &Token,
        _domain: &str,
        _records: &[Record],
    ) -> Result<(), RegistrarError> {
        Err(RegistrarError::SetDnsNotSupported(self.name()))
    }

    /// How long a name server change usually takes to be seen, for the answer.
    fn propagation(&self) -> &'static str {
        "name server changes reach resolvers within 24-48 hours (the TLD's NS TTL)"
    }
}

/// Every registrar this process can reach, by name.
#[derive(Debug, Clone, Default)]
pub struct Registrars(BTreeMap<&'static str, Arc<dyn Registrar>>);

impl Registrars {
    pub fn new(adapters: Vec<Arc<dyn Registrar>>) -> Self {
        Self(
            adapters
                .into_iter()
                .map(|adapter| (adapter.name(), adapter))
                .collect(),
        )
    }

    /// The adapters as configured: each at its API's base URL.
    pub fn from_config(urls: &RegistrarUrls, timeout: Duration) -> Self {
        let mut adapters: Vec<Arc<dyn Registrar>> = vec![
            Arc::new(cloudflare::Cloudflare::new(&urls.cloudflare, timeout)),
            Arc::new(dynadot::Dynadot::new(&urls.dynadot, timeout)),
            Arc::new(godaddy::GoDaddy::new(&urls.godaddy, timeout)),
            Arc::new(ovh::Ovh::new(&urls.ovh, timeout)),
        ];
        // Namecheap answers only requests from the address whitelisted for the account.
        if let Some(client_ip) = &urls.namecheap_client_ip {
            adapters.push(Arc::new(namecheap::Namecheap::new(
                &urls.namecheap,
                client_ip,
                timeout,
            )));
        }
        Self::new(adapters)
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Registrar>> {
        self.0.get(name.to_ascii_lowercase().as_str())
    }

    /// A customer's request to `registrar` for `domain`, checked before any call: 404
    /// `unsupported-registrar` (with the ones there are), 422 for a missing or malformed
    /// domain or token.
    pub fn request(&self, registrar: &str, domain: &str, token: &str) -> Result<Request, Error> {
        let registrar = self
            .get(registrar)
            .cloned()
            .ok_or_else(|| Error::UnsupportedRegistrar(registrar.to_owned(), self.names()))?;
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        // A top-level label of digits only is an address (`127.0.0.1`), not a domain.
        let numeric_top = domain
            .rsplit('.')
            .next()
            .is_some_and(|top| top.bytes().all(|b| b.is_ascii_digit()));
        if !crate::domain::is_hostname(&domain) || !domain.contains('.') || numeric_top {
            return Err(Error::InvalidFormat(
                "domain must be a domain name".to_owned(),
            ));
        }
        if token.trim().is_empty() {
            return Err(Error::InvalidFormat("token is required".to_owned()));
        }
        // No header or form can carry CR, LF, NUL or other controls: refused here, not sent.
        if token.trim().chars().any(char::is_control) {
            return Err(Error::InvalidFormat(
                "token holds control characters".to_owned(),
            ));
        }
        Ok(Request {
            registrar,
            domain,
            token: Token::new(token),
        })
    }

    /// Their names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.keys().copied().collect()
    }
}

/// The most records one set-dns writes: each may cost a registrar several calls (OVH: a read,
/// a create and a delete per standing record), so one request's upstream work stays bounded.
pub const MAX_RECORDS: usize = 20;

/// One customer's request to one registrar, its input checked.
#[derive(Debug)]
pub struct Request {
    pub registrar: Arc<dyn Registrar>,
    pub domain: String,
    token: Token,
}

impl Request {
    /// Confirms the token opens the account holding the domain; writes nothing.
    pub async fn validate(&self) -> Result<(), Error> {
        Ok(self.registrar.validate(&self.token, &self.domain).await?)
    }

    /// Validates, sets the name servers (normalized; 422 for none), then reads them back:
    /// what the registrar holds, not what was asked.
    pub async fn set_ns(&self, given: &[String]) -> Result<Vec<String>, Error> {
        let nameservers = normalized_nameservers(given).map_err(Error::InvalidFormat)?;
        self.validate().await?;
        self.registrar
            .set_nameservers(&self.token, &self.domain, &nameservers)
            .await?;
        let held = self
            .registrar
            .nameservers(&self.token, &self.domain)
            .await?;
        Ok(held
            .iter()
            .map(|ns| ns.trim_end_matches('.').to_ascii_lowercase())
            .collect())
    }

    /// Writes `records`, each checked before any call (422 for none, for more than
    /// [`MAX_RECORDS`], or for a bad one).
    pub async fn set_dns(&self, records: &[Record]) -> Result<(), Error> {
        if records.is_empty() || records.len() > MAX_RECORDS {
            return Err(Error::InvalidFormat(format!(
                "records must hold between 1 and {MAX_RECORDS} records"
            )));
        }
        for record in records {
            record.validate().map_err(Error::InvalidFormat)?;
        }
        Ok(self
            .registrar
            .set_records(&self.token, &self.domain, records)
            .await?)
    }
}

/// Each registrar API's base URL (`CLOUDFLARE_API_URL`, …), so tests and sandboxes can
/// point elsewhere, as `DYNADOT_API_URL` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarUrls {
    pub cloudflare: String,
    /// api3, as `DYNADOT_API_URL` (the same API PDM's own DNS uses, with the customer's key).
    pub dynadot: String,
    pub godaddy: String,
    pub namecheap: String,
    /// PDM's egress address as whitelisted at Namecheap (`NAMECHEAP_CLIENT_IP`); without it
    /// the Namecheap adapter is not offered.
    pub namecheap_client_ip: Option<String>,
    pub ovh: String,
}

/// A registrar's HTTP client: one per adapter, no default headers (the token travels per
/// request).
pub(crate) fn client(timeout: Duration) -> reqwest::Client {
    crate::outbound::client(timeout, reqwest::header::HeaderMap::new()).unwrap_or_default()
}

/// A registrar's answer, read whole.
pub(crate) struct Answered {
    pub status: reqwest::StatusCode,
    /// Seconds from a `Retry-After` header, when it holds a number.
    pub retry_after: Option<u64>,
    pub body: bytes::Bytes,
}

/// Sends `request` and reads its whole answer; no answer at all is `Unavailable`.
pub(crate) async fn send(
    registrar: &str,
    request: reqwest::RequestBuilder,
) -> Result<Answered, RegistrarError> {
    let response = request
        .send()
        .await
        .map_err(|e| unreachable(registrar, e))?;
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let body = crate::outbound::read_capped(response).await.map_err(|e| {
        tracing::warn!(registrar, error.message = %e, "registrar answer not read");
        RegistrarError::Unavailable
    })?;
    Ok(Answered {
        status,
        retry_after,
        body,
    })
}

/// What a refusal's HTTP status means where the registrar says nothing more precise.
pub(crate) fn by_status(
    status: reqwest::StatusCode,
    retry_after: Option<u64>,
    refused: &'static str,
) -> RegistrarError {
    use reqwest::StatusCode;
    match status {
        StatusCode::UNAUTHORIZED => RegistrarError::InvalidToken,
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => RegistrarError::DomainNotInAccount,
        StatusCode::TOO_MANY_REQUESTS => RegistrarError::RateLimited { retry_after },
        s if s.is_server_error() => RegistrarError::Unavailable,
        _ => RegistrarError::Refused(refused),
    }
}

/// A transport that failed: no answer at all.
fn unreachable(registrar: &str, error: reqwest::Error) -> RegistrarError {
    // Without its URL: a registrar may carry credentials in the query (Namecheap does).
    tracing::warn!(registrar, error.message = %error.without_url(), "registrar unreachable");
    RegistrarError::Unavailable
}

/// Logs what a registrar answered to a refused call, with the token scrubbed from the whole
/// answer before it is cut to its first 500 characters (cut first, a token at the cut would
/// be logged but for its tail).
pub(crate) fn log_answer(registrar: &str, token: &Token, status: u16, body: &[u8]) {
    let answer = answer_for_log(token, body);
    tracing::warn!(registrar, status, answer, "registrar refused");
}

/// What of a registrar's answer may be logged: scrubbed whole, then its first 500 characters.
fn answer_for_log(token: &Token, body: &[u8]) -> String {
    let scrubbed = token.scrubbed(&String::from_utf8_lossy(body));
    scrubbed.chars().take(500).collect()
}

/// Seconds from a `Retry-After` header, when it holds a number.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Name servers as registrars take them: lower case, no trailing dot, each once, in order.
pub fn normalized_nameservers(given: &[String]) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = Vec::new();
    for raw in given {
        let name = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        if !crate::domain::is_hostname(&name) || !name.contains('.') {
            return Err(format!("{raw:?} is not a name server's host name"));
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Err("nameservers must name at least one name server".to_owned());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_servers_are_trimmed_lowercased_and_deduplicated() {
        let given = [" NS1.OpenOva.io. ", "ns2.openova.io", "ns1.openova.io", ""].map(String::from);

        assert_eq!(
            normalized_nameservers(&given).unwrap(),
            ["ns1.openova.io", "ns2.openova.io"]
        );
        assert!(normalized_nameservers(&[]).is_err());
        assert!(normalized_nameservers(&[" ".to_owned()]).is_err());
        assert!(normalized_nameservers(&["not a host".to_owned()]).is_err());
    }

    #[test]
    fn an_answer_is_scrubbed_before_it_is_cut() {
        let token = Token::new("tok-0123456789abcdef");
        let body = format!("{}tok-0123456789abcdef", "x".repeat(490));

        let logged = answer_for_log(&token, body.as_bytes());

        assert!(!logged.contains("tok-012345678"), "{logged}");
        assert!(logged.ends_with("[REDACTED]"), "{logged}");
    }

    #[test]
    fn a_token_and_its_parts_are_scrubbed_and_never_printed() {
        let token = Token::new("gd-key-12345:gd-secret-67890");

        let text = token
            .scrubbed("key gd-key-12345 secret gd-secret-67890 whole gd-key-12345:gd-secret-67890");

        assert!(
            !text.contains("gd-key") && !text.contains("gd-secret"),
            "{text}"
        );
        assert!(!format!("{token:?}").contains("gd-"));
        assert_eq!(
            token.parts::<2>().unwrap(),
            ["gd-key-12345", "gd-secret-67890"]
        );
        assert_eq!(
            Token::new("single").parts::<2>(),
            Err(RegistrarError::InvalidToken)
        );
    }

    #[test]
    fn whole_numbers_may_be_written_as_floats_but_not_as_fractions() {
        let parse = |ttl: &str| {
            serde_json::from_str::<Record>(&format!(
                r#"{{"type":"A","name":"@","value":"94.130.0.10","ttl":{ttl}}}"#
            ))
            .map(|r| r.ttl)
        };

        assert_eq!(parse("300").unwrap(), 300);
        assert_eq!(parse("300.0").unwrap(), 300);
        assert!(parse("300.5").is_err());
        assert!(parse("-1").is_err());
    }

    #[test]
    fn records_are_checked_before_any_call() {
        let record = |kind, name: &str, value: &str, priority| Record {
            kind,
            name: name.to_owned(),
            value: value.to_owned(),
            ttl: 300,
            priority,
        };

        assert!(
            record(RecordType::A, "@", "94.130.0.10", None)
                .validate()
                .is_ok()
        );
        assert!(
            record(RecordType::A, "www", "2001:db8::1", None)
                .validate()
                .is_err()
        );
        assert!(
            record(RecordType::Aaaa, "v6", "2001:db8::1", None)
                .validate()
                .is_ok()
        );
        assert!(
            record(RecordType::Cname, "www", "acme.omani.works.", None)
                .validate()
                .is_ok()
        );
        assert!(
            record(RecordType::Mx, "@", "mail.acme.io", None)
                .validate()
                .is_err()
        );
        assert!(
            record(RecordType::Mx, "@", "mail.acme.io", Some(10))
                .validate()
                .is_ok()
        );
        assert!(
            record(RecordType::Txt, "_dmarc", "v=DMARC1; p=none", None)
                .validate()
                .is_ok()
        );
        assert!(
            record(RecordType::Txt, "bad name!", "x", None)
                .validate()
                .is_err()
        );
    }
}
