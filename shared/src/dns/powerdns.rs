//! The PowerDNS authoritative HTTP API. Unlike Dynadot, a change is one `PATCH` of exactly the
//! sovereign's RRsets: no read-modify-write, nothing else in the zone is sent, TTLs are per
//! RRset and there is no record cap.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{
    DnsError, DnsProvider, RECORD_TTL, RetryPolicy, SovereignRecords, ZoneUsage, http_client,
};
use crate::domain::PoolDomain;

/// Address types PDM owns at its names; a CNAME there is replaced too, as it could not stand
/// beside them.
const ADDRESS_TYPES: [&str; 2] = ["A", "AAAA"];

/// One RRset as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RrSet {
    /// Absolute, e.g. `console.acme.omani.works.`.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub ttl: u32,
    #[serde(default)]
    pub records: Vec<Content>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    pub content: String,
    #[serde(default)]
    pub disabled: bool,
}

/// One entry of a `PATCH` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub changetype: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<Content>,
}

impl Change {
    fn delete(name: &str, kind: &'static str) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            changetype: "DELETE",
            ttl: None,
            records: Vec::new(),
        }
    }
}

/// Absolute names of the sovereign's records (`*.acme.omani.works.`).
fn absolute_names(records: &SovereignRecords) -> impl Iterator<Item = String> + '_ {
    records
        .relative_names()
        .map(move |name| format!("{name}.{}.", records.pool))
}

/// The changes that make the sovereign's names hold exactly its target: whatever address or
/// CNAME RRset stood there is deleted first, in the same atomic `PATCH`.
pub fn publish_changes(records: &SovereignRecords) -> Vec<Change> {
    let kind = records.record_type();
    absolute_names(records)
        .flat_map(|name| {
            let stale = ["CNAME"]
                .into_iter()
                .chain(ADDRESS_TYPES)
                .filter(move |t| *t != kind);
            let mut changes: Vec<Change> = stale.map(|t| Change::delete(&name, t)).collect();
            changes.push(Change {
                name,
                kind,
                changetype: "REPLACE",
                ttl: Some(RECORD_TTL),
                records: vec![Content {
                    content: records.target.to_string(),
                    disabled: false,
                }],
            });
            changes
        })
        .collect()
}

/// The changes that remove the sovereign's address records and nothing else.
pub fn withdraw_changes(records: &SovereignRecords) -> Vec<Change> {
    absolute_names(records)
        .flat_map(|name| ADDRESS_TYPES.map(|t| Change::delete(&name, t)))
        .collect()
}

/// The API client. The key travels in a header marked sensitive; `Debug` shows none of it.
#[derive(Debug)]
pub struct PowerDns {
    http: reqwest::Client,
    /// `…/api/v1/servers/{server}`.
    server_url: String,
    server_id: String,
    key: SecretString,
    retry: RetryPolicy,
}

#[derive(Deserialize)]
struct ZoneAnswer {
    #[serde(default)]
    rrsets: Vec<RrSet>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
}

impl PowerDns {
    pub fn new(
        api_url: &str,
        server_id: &str,
        key: SecretString,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<Self, DnsError> {
        let mut header = HeaderValue::from_str(key.expose_secret()).map_err(|_| {
            DnsError::Refused("PDNS_API_KEY holds characters a header cannot carry".to_owned())
        })?;
        header.set_sensitive(true);
        let headers = HeaderMap::from_iter([(
            reqwest::header::HeaderName::from_static("x-api-key"),
            header,
        )]);
        Ok(Self {
            http: http_client(timeout, headers)?,
            server_url: format!(
                "{}/api/v1/servers/{server_id}",
                api_url.trim_end_matches('/')
            ),
            server_id: server_id.to_owned(),
            key,
            retry,
        })
    }

    /// Every RRset of the pool's zone.
    pub async fn rrsets(&self, pool: &PoolDomain) -> Result<Vec<RrSet>, DnsError> {
        let body = self.call(Method::GET, pool, None).await?;
        serde_json::from_slice::<ZoneAnswer>(&body)
            .map(|zone| zone.rrsets)
            .map_err(|e| {
                DnsError::Unavailable(format!("PowerDNS answered an unreadable zone: {e}"))
            })
    }

    /// Applies `changes` to the pool's zone atomically.
    pub async fn patch(&self, pool: &PoolDomain, changes: &[Change]) -> Result<(), DnsError> {
        let body = serde_json::json!({ "rrsets": changes });
        self.call(Method::PATCH, pool, Some(&body)).await.map(drop)
    }

    async fn call(
        &self,
        method: Method,
        pool: &PoolDomain,
        body: Option<&serde_json::Value>,
    ) -> Result<bytes::Bytes, DnsError> {
        let what = format!("{method} zone {pool}");
        self.retry
            .run(&what, &self.key, || {
                self.request(method.clone(), pool, body)
            })
            .await
    }

    async fn request(
        &self,
        method: Method,
        pool: &PoolDomain,
        body: Option<&serde_json::Value>,
    ) -> Result<bytes::Bytes, DnsError> {
        let transport = |e: reqwest::Error| {
            DnsError::Unavailable(format!("PowerDNS unreachable: {}", e.without_url()))
        };
        let mut request = self
            .http
            .request(method, format!("{}/zones/{pool}.", self.server_url));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let body = response.bytes().await.map_err(transport)?;
        if status.is_success() {
            return Ok(body);
        }
        // Errors come as {"error": "…"}, or as plain text for 401 and 404.
        let detail = serde_json::from_slice::<ErrorAnswer>(&body)
            .map(|answer| answer.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(200).collect());
        Err(match status {
            StatusCode::NOT_FOUND => DnsError::Unwritable(format!(
                "PowerDNS server {:?} has no zone {pool}. (HTTP 404)",
                self.server_id
            )),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                DnsError::Unwritable(format!("PowerDNS refused the API key (HTTP {status})"))
            }
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                DnsError::Unavailable(format!("PowerDNS answered HTTP {status}: {detail}"))
            }
            _ => DnsError::Refused(format!(
                "PowerDNS refused the change (HTTP {status}): {detail}"
            )),
        })
    }
}

#[async_trait::async_trait]
impl DnsProvider for PowerDns {
    fn name(&self) -> &'static str {
        "powerdns"
    }

    async fn publish(&self, records: &SovereignRecords) -> Result<Option<ZoneUsage>, DnsError> {
        self.patch(&records.pool, &publish_changes(records))
            .await
            .map(|()| None)
    }

    async fn withdraw(&self, records: &SovereignRecords) -> Result<Option<ZoneUsage>, DnsError> {
        self.patch(&records.pool, &withdraw_changes(records))
            .await
            .map(|()| None)
    }

    async fn address_records(
        &self,
        pool: &PoolDomain,
    ) -> Result<Option<Vec<(String, String)>>, DnsError> {
        let suffix = format!(".{pool}.");
        let rrsets = self.rrsets(pool).await?;
        Ok(Some(
            rrsets
                .into_iter()
                .filter(|rrset| {
                    ADDRESS_TYPES
                        .iter()
                        .any(|t| rrset.kind.eq_ignore_ascii_case(t))
                })
                .filter_map(|rrset| {
                    let relative = rrset.name.strip_suffix(&suffix)?.to_owned();
                    Some(
                        rrset
                            .records
                            .into_iter()
                            .filter(|r| !r.disabled)
                            .map(move |r| (relative.clone(), r.content)),
                    )
                })
                .flatten()
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::{ManagedDomains, Subdomain};

    fn records(target: &str, hosts: &[&str]) -> SovereignRecords {
        SovereignRecords {
            pool: ManagedDomains::parse("omani.works")
                .unwrap()
                .resolve("omani.works")
                .unwrap(),
            sub: Subdomain::parse("acme").unwrap(),
            target: target.parse().unwrap(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
        }
    }

    #[test]
    fn publish_clears_cname_and_the_other_address_type_then_replaces_with_ttl_300() {
        let changes = publish_changes(&records("203.0.113.10", &["*", "console"]));

        assert_eq!(
            serde_json::to_value(&changes).unwrap(),
            json!([
                {"name": "*.acme.omani.works.", "type": "CNAME", "changetype": "DELETE"},
                {"name": "*.acme.omani.works.", "type": "AAAA", "changetype": "DELETE"},
                {"name": "*.acme.omani.works.", "type": "A", "changetype": "REPLACE", "ttl": 300,
                 "records": [{"content": "203.0.113.10", "disabled": false}]},
                {"name": "console.acme.omani.works.", "type": "CNAME", "changetype": "DELETE"},
                {"name": "console.acme.omani.works.", "type": "AAAA", "changetype": "DELETE"},
                {"name": "console.acme.omani.works.", "type": "A", "changetype": "REPLACE", "ttl": 300,
                 "records": [{"content": "203.0.113.10", "disabled": false}]},
            ])
        );
    }

    #[test]
    fn an_ipv6_target_replaces_aaaa_and_clears_a() {
        let changes = publish_changes(&records("2001:db8::1", &["api"]));

        let kinds: Vec<(&str, &str)> = changes.iter().map(|c| (c.kind, c.changetype)).collect();
        assert_eq!(
            kinds,
            [("CNAME", "DELETE"), ("A", "DELETE"), ("AAAA", "REPLACE")]
        );
    }

    #[test]
    fn withdraw_deletes_only_address_rrsets_at_the_sovereigns_names() {
        let changes = withdraw_changes(&records("203.0.113.10", &["*", "api"]));

        let deleted: Vec<(&str, &str, &str)> = changes
            .iter()
            .map(|c| (c.name.as_str(), c.kind, c.changetype))
            .collect();
        assert_eq!(
            deleted,
            [
                ("*.acme.omani.works.", "A", "DELETE"),
                ("*.acme.omani.works.", "AAAA", "DELETE"),
                ("api.acme.omani.works.", "A", "DELETE"),
                ("api.acme.omani.works.", "AAAA", "DELETE"),
            ]
        );
    }

    #[test]
    fn the_key_is_in_no_debug_output() {
        let client = PowerDns::new(
            "http://127.0.0.1:1",
            "localhost",
            SecretString::from("pdns-secret-key-77"),
            Duration::from_secs(1),
            RetryPolicy::default(),
        )
        .unwrap();

        assert!(!format!("{client:?}").contains("pdns-secret-key-77"));
    }
}
