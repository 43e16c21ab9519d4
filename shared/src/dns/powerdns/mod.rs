//! The PowerDNS authoritative HTTP API. Unlike Dynadot, a change is one `PATCH` of exactly the
//! sovereign's RRsets: no read-modify-write, nothing else in the zone is sent, TTLs are per
//! RRset and there is no record cap.
//!
//! Two ways to publish a sovereign ([`Delegation`]): its address records in the pool zone
//! (`records`), or, as the fleet runs it, a child zone per sovereign, delegated from the pool
//! zone and signed with DNSSEC (`child-zone`, in [`child_zone`]).

mod child_zone;

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{
    Applied, Change as ZoneChange, DnsError, DnsProvider, ForeignRecords, RECORD_TTL, RetryPolicy,
    SovereignRecords, ZoneRecord, ZoneUsage, address_type, adoptable, http_client,
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
    /// The RRset `kind` at `name` holding exactly `contents`.
    fn replace(name: &str, kind: &'static str, ttl: u32, contents: &[String]) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            changetype: "REPLACE",
            ttl: Some(ttl),
            records: contents
                .iter()
                .map(|content| Content {
                    content: content.clone(),
                    disabled: false,
                })
                .collect(),
        }
    }

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

/// The sovereign's records with absolute names (`*.acme.omani.works.`): name, type, value.
fn absolute_records(
    records: &SovereignRecords,
) -> impl Iterator<Item = (String, &'static str, String)> + '_ {
    records.targets.iter().map(move |(host, ip)| {
        let name = format!("{host}.{}.{}.", records.sub, records.pool);
        (name, address_type(*ip), ip.to_string())
    })
}

/// The changes that make the sovereign's names hold exactly its target: whatever address or
/// CNAME RRset stood there is deleted first, in the same atomic `PATCH`.
pub fn publish_changes(records: &SovereignRecords) -> Vec<Change> {
    absolute_records(records)
        .flat_map(|(name, kind, target)| {
            let stale = ["CNAME"]
                .into_iter()
                .chain(ADDRESS_TYPES)
                .filter(move |t| *t != kind);
            let mut changes: Vec<Change> = stale.map(|t| Change::delete(&name, t)).collect();
            changes.push(Change::replace(&name, kind, RECORD_TTL, &[target]));
            changes
        })
        .collect()
}

/// The changes that remove the sovereign's records from `rrsets` (its target in the RRsets
/// of its type at its names) and nothing else: an RRset that holds other values keeps them.
pub fn withdraw_changes(records: &SovereignRecords, rrsets: &[RrSet]) -> Vec<Change> {
    absolute_records(records)
        .filter_map(|(name, kind, target)| {
            let rrset = rrsets
                .iter()
                .find(|r| r.name.eq_ignore_ascii_case(&name) && r.kind == kind)?;
            if !rrset.records.iter().any(|r| r.content == target) {
                return None;
            }
            let rest: Vec<Content> = rrset
                .records
                .iter()
                .filter(|r| r.content != target)
                .cloned()
                .collect();
            Some(if rest.is_empty() {
                Change::delete(&name, kind)
            } else {
                Change {
                    name,
                    kind,
                    changetype: "REPLACE",
                    ttl: Some(rrset.ttl),
                    records: rest,
                }
            })
        })
        .collect()
}

/// The zone's records below the apex, relative to the pool; disabled ones left out.
fn zone_records(pool: &PoolDomain, rrsets: Vec<RrSet>) -> Vec<ZoneRecord> {
    let suffix = format!(".{pool}.");
    rrsets
        .into_iter()
        .filter_map(|rrset| {
            let relative = rrset.name.strip_suffix(&suffix)?.to_owned();
            let kind = rrset.kind;
            Some(
                rrset
                    .records
                    .into_iter()
                    .filter(|r| !r.disabled)
                    .map(move |r| ZoneRecord::new(&relative, &kind, &r.content)),
            )
        })
        .flatten()
        .collect()
}

/// How a sovereign is published (`PDNS_DELEGATION`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delegation {
    /// Its address records in the pool zone.
    Records,
    /// A child zone `sub.pool.` holding its records, delegated from the pool zone.
    ChildZone(ChildZones),
}

/// How child zones are made (`PDNS_NAMESERVERS`, `PDNS_DNSSEC`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildZones {
    /// The fleet's name servers, absolute (`ns1.openova.io.`); the first is the SOA primary.
    pub nameservers: Vec<String>,
    /// Sign each child zone and publish its DS in the pool zone.
    pub dnssec: bool,
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
    delegation: Delegation,
}

/// The `account` PDM gives every zone it makes: a zone without it is someone else's, which
/// PDM never changes or drops.
const PDM_ACCOUNT: &str = "pdm";

#[derive(Deserialize)]
struct ZoneAnswer {
    #[serde(default)]
    account: String,
    #[serde(default)]
    rrsets: Vec<RrSet>,
}

/// One zone as the server's zone list shows it.
#[derive(Deserialize)]
struct ZoneListed {
    name: String,
    #[serde(default)]
    account: String,
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
        delegation: Delegation,
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
            delegation,
        })
    }

    /// Every RRset of the pool's zone.
    pub async fn rrsets(&self, pool: &PoolDomain) -> Result<Vec<RrSet>, DnsError> {
        self.rrsets_of(&format!("{pool}.")).await?.ok_or_else(|| {
            DnsError::Unwritable(format!(
                "PowerDNS server {:?} has no zone {pool}. (HTTP 404)",
                self.server_id
            ))
        })
    }

    /// Every RRset of `zone` (absolute), `None` when the server has no such zone.
    async fn rrsets_of(&self, zone: &str) -> Result<Option<Vec<RrSet>>, DnsError> {
        Ok(self.zone_of(zone).await?.map(|zone| zone.rrsets))
    }

    /// `zone` (absolute) with its account and RRsets, `None` when the server has no such zone.
    async fn zone_of(&self, zone: &str) -> Result<Option<ZoneAnswer>, DnsError> {
        let Some(body) = self.call(Method::GET, &zone_path(zone), None).await? else {
            return Ok(None);
        };
        serde_json::from_slice::<ZoneAnswer>(&body)
            .map(Some)
            .map_err(|e| {
                DnsError::Unavailable(format!("PowerDNS answered an unreadable zone: {e}"))
            })
    }

    /// What stands in the pool: the pool zone's RRsets, and its records with every zone under
    /// the pool that PDM did not make (type `ZONE`, at its name): the server answers for
    /// names under such a zone from it, so its label is not free.
    async fn pool_view(
        &self,
        pool: &PoolDomain,
    ) -> Result<(Vec<RrSet>, Vec<ZoneRecord>), DnsError> {
        let rrsets = self.rrsets(pool).await?;
        let mut records = zone_records(pool, rrsets.clone());
        let body = self
            .call(Method::GET, "zones", None)
            .await?
            .unwrap_or_default();
        let listed: Vec<ZoneListed> = serde_json::from_slice(&body).map_err(|e| {
            DnsError::Unavailable(format!("PowerDNS answered an unreadable zone list: {e}"))
        })?;
        let suffix = format!(".{pool}.");
        for zone in listed {
            let Some(relative) = zone.name.strip_suffix(&suffix) else {
                continue;
            };
            if !self.made_by_pdm(&zone.name, &zone.account).await? {
                records.push(ZoneRecord::new(relative, "ZONE", &zone.name));
            }
        }
        Ok((rrsets, records))
    }

    /// Whether PDM made `zone`: its account says so, or (a child zone PDM made before it
    /// marked them) its SOA is PDM's.
    async fn made_by_pdm(&self, zone: &str, account: &str) -> Result<bool, DnsError> {
        if account == PDM_ACCOUNT {
            return Ok(true);
        }
        let Delegation::ChildZone(zones) = &self.delegation else {
            return Ok(false);
        };
        let rrsets = self.rrsets_of(zone).await?.unwrap_or_default();
        Ok(zones.is_ours(zone, &child_zone::soa_of(zone, &rrsets)))
    }

    /// Applies `changes` to the pool's zone atomically.
    pub async fn patch(&self, pool: &PoolDomain, changes: &[Change]) -> Result<(), DnsError> {
        self.patch_zone(&format!("{pool}."), changes).await
    }

    async fn patch_zone(&self, zone: &str, changes: &[Change]) -> Result<(), DnsError> {
        let body = serde_json::json!({ "rrsets": changes });
        self.call(Method::PATCH, &zone_path(zone), Some(&body))
            .await?
            .map(drop)
            .ok_or_else(|| self.no_zone(zone))
    }

    fn no_zone(&self, zone: &str) -> DnsError {
        DnsError::Unwritable(format!(
            "PowerDNS server {:?} has no zone {zone} (HTTP 404)",
            self.server_id
        ))
    }

    /// `method path` (below the server's URL) with retries; `None` for 404.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Option<bytes::Bytes>, DnsError> {
        let what = format!("{method} {path}");
        self.retry
            .run(&what, &self.key, || {
                self.request(method.clone(), path, body)
            })
            .await
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Option<bytes::Bytes>, DnsError> {
        let transport = |e: reqwest::Error| {
            DnsError::Unavailable(format!("PowerDNS unreachable: {}", e.without_url()))
        };
        let mut request = self
            .http
            .request(method, format!("{}/{path}", self.server_url));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let body = crate::outbound::read_capped(response)
            .await
            .map_err(|e| DnsError::Unavailable(format!("PowerDNS answer not read: {e}")))?;
        if status.is_success() {
            return Ok(Some(body));
        }
        // Errors come as {"error": "…"}, or as plain text for 401 and 404.
        let detail = serde_json::from_slice::<ErrorAnswer>(&body)
            .map(|answer| answer.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(200).collect());
        Err(match status {
            StatusCode::NOT_FOUND => return Ok(None),
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

/// The API path of `zone` (absolute, with its trailing dot).
fn zone_path(zone: &str) -> String {
    format!("zones/{zone}")
}

impl PowerDns {
    /// One read of the zone, so that no record PDM did not write is replaced unnoticed and
    /// only the sovereigns' own records are removed, then one atomic `PATCH` carrying every
    /// change's RRsets. Should PowerDNS refuse that `PATCH`, each change is tried alone, so
    /// that the one it refuses holds up no other.
    async fn apply_records(
        &self,
        pool: &PoolDomain,
        changes: &[ZoneChange],
        foreign: ForeignRecords,
    ) -> Result<Applied, DnsError> {
        let (rrsets, mut zone) = self.pool_view(pool).await?;
        let mut patch = Vec::new();
        let mut outcomes = Vec::new();
        for change in changes {
            outcomes.push(match change {
                ZoneChange::Publish(records) => adoptable(records, &zone, foreign).inspect(|_| {
                    patch.extend(publish_changes(records));
                }),
                ZoneChange::Withdraw(records) => {
                    patch.extend(withdraw_changes(records, &rrsets));
                    Ok(Vec::new())
                }
            });
        }
        match self.patch_if_any(pool, &patch).await {
            Err(DnsError::Refused(_)) if changes.len() > 1 => {
                return self.apply_one_by_one(pool, changes, foreign).await;
            }
            result => result?,
        }
        for (change, outcome) in changes.iter().zip(&outcomes) {
            if outcome.is_ok() {
                zone = after(zone, change);
            }
        }
        Ok(Applied {
            zone: Some(ZoneUsage {
                record_limit: None,
                records: zone,
            }),
            outcomes,
        })
    }

    async fn patch_if_any(&self, pool: &PoolDomain, changes: &[Change]) -> Result<(), DnsError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.patch(pool, changes).await
    }

    async fn apply_one_by_one(
        &self,
        pool: &PoolDomain,
        changes: &[ZoneChange],
        foreign: ForeignRecords,
    ) -> Result<Applied, DnsError> {
        let mut applied = Applied::default();
        for change in changes {
            match self
                .apply(pool, std::slice::from_ref(change), foreign)
                .await
            {
                Ok(alone) => {
                    applied.zone = alone.zone.or(applied.zone);
                    applied.outcomes.extend(alone.outcomes);
                }
                Err(error) => applied.outcomes.push(Err(error)),
            }
        }
        Ok(applied)
    }
}

/// `zone` once `change` is made.
fn after(zone: Vec<ZoneRecord>, change: &ZoneChange) -> Vec<ZoneRecord> {
    match change {
        ZoneChange::Publish(records) => {
            let names: Vec<String> = records.relative_names().collect();
            zone.into_iter()
                .filter(|r| !(names.contains(&r.name) && r.is_replaced_by_publishing()))
                .chain(records.own_records())
                .collect()
        }
        ZoneChange::Withdraw(records) => zone.into_iter().filter(|r| !records.is_own(r)).collect(),
    }
}

#[async_trait::async_trait]
impl DnsProvider for PowerDns {
    fn name(&self) -> &'static str {
        "powerdns"
    }

    fn reads_zones(&self) -> bool {
        true
    }

    async fn apply(
        &self,
        pool: &PoolDomain,
        changes: &[ZoneChange],
        foreign: ForeignRecords,
    ) -> Result<Applied, DnsError> {
        match &self.delegation {
            Delegation::Records => self.apply_records(pool, changes, foreign).await,
            Delegation::ChildZone(zones) => {
                self.apply_delegating(zones, pool, changes, foreign).await
            }
        }
    }

    async fn usage(&self, pool: &PoolDomain) -> Result<Option<ZoneUsage>, DnsError> {
        Ok(Some(ZoneUsage {
            record_limit: None,
            records: self.pool_view(pool).await?.1,
        }))
    }

    async fn address_records(
        &self,
        pool: &PoolDomain,
    ) -> Result<Option<Vec<(String, String)>>, DnsError> {
        let parent = zone_records(pool, self.rrsets(pool).await?);
        let mut records: Vec<(String, String)> = parent
            .iter()
            .filter(|r| ADDRESS_TYPES.contains(&r.record_type.as_str()))
            .map(|r| (r.name.clone(), r.value.clone()))
            .collect();
        if let Delegation::ChildZone(zones) = &self.delegation {
            records.extend(self.delegated_address_records(zones, pool, &parent).await?);
        }
        Ok(Some(records))
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
            targets: hosts
                .iter()
                .map(|h| (h.to_string(), target.parse().unwrap()))
                .collect(),
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
    fn withdraw_deletes_only_the_sovereigns_own_records_at_its_names() {
        let rrset = |name: &str, kind: &str, contents: &[&str]| RrSet {
            name: name.to_owned(),
            kind: kind.to_owned(),
            ttl: 300,
            records: contents
                .iter()
                .map(|c| Content {
                    content: (*c).to_owned(),
                    disabled: false,
                })
                .collect(),
        };
        let zone = [
            rrset("*.acme.omani.works.", "A", &["94.130.0.10"]),
            rrset("api.acme.omani.works.", "A", &["94.130.0.10", "192.0.2.7"]),
            rrset("api.acme.omani.works.", "TXT", &["\"kept\""]),
            rrset("console.acme.omani.works.", "A", &["192.0.2.200"]),
        ];

        let changes = withdraw_changes(&records("94.130.0.10", &["*", "api", "console"]), &zone);

        let summary: Vec<(&str, &str, &str, Vec<&str>)> = changes
            .iter()
            .map(|c| {
                let contents = c.records.iter().map(|r| r.content.as_str()).collect();
                (c.name.as_str(), c.kind, c.changetype, contents)
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("*.acme.omani.works.", "A", "DELETE", vec![]),
                ("api.acme.omani.works.", "A", "REPLACE", vec!["192.0.2.7"]),
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
            Delegation::Records,
        )
        .unwrap();

        assert!(!format!("{client:?}").contains("pdns-secret-key-77"));
    }
}
