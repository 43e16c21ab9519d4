//! `PDNS_DELEGATION=child-zone`: every sovereign gets its own zone `sub.pool.`, holding its
//! address records and signed with DNSSEC, and the pool zone holds only the delegation to it
//! (NS, and DS for the chain of trust). Each step is idempotent (a zone that exists is kept
//! and corrected, a key that exists is kept), so a change that failed half-way converges when
//! the ledger retries it, as every change does.
//!
//! A batch makes or corrects each sovereign's child zone first, then writes every delegation
//! of the batch in one atomic `PATCH` of the pool zone. Releasing removes the delegation
//! first, then drops the child zone, whose keys go with it.
//!
//! PDM owns only what it made: a zone it creates carries the account `pdm`, a delegation it
//! writes names the fleet's name servers. A zone or a delegation someone else made at a label
//! keeps that label taken (`dns-conflict`), and is never replaced or dropped.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::{
    ADDRESS_TYPES, Change, ChildZones, PDM_ACCOUNT, PowerDns, RrSet, publish_changes,
    withdraw_changes, zone_path,
};
use crate::dns::{
    Applied, Change as ZoneChange, DnsError, ForeignRecords, SovereignRecords, ZoneRecord,
    ZoneUsage, adoptable,
};
use crate::domain::PoolDomain;

/// TTL of the delegation (NS and DS) in the pool zone and of the child's apex NS.
pub const DELEGATION_TTL: u32 = 3600;
/// The algorithm of every key PDM makes: ECDSA P-256 with SHA-256 (13).
const KEY_ALGORITHM: &str = "ECDSAP256SHA256";
/// SOA timers after the serial: refresh, retry, expire, negative TTL.
const SOA_TIMERS: &str = "10800 3600 604800 3600";

/// One key as `…/cryptokeys` lists it.
#[derive(Debug, Deserialize)]
struct CryptoKey {
    #[serde(default)]
    active: bool,
    #[serde(default)]
    keytype: String,
    /// DS records for the key (KSK or CSK), as `keytag algorithm digesttype digest`.
    #[serde(default)]
    ds: Vec<String>,
}

/// `acme.omani.works.`
pub fn child_zone(records: &SovereignRecords) -> String {
    format!("{}.{}.", records.sub, records.pool)
}

/// The SOA content of `zone` among its `rrsets`, empty when it has none.
pub(super) fn soa_of(zone: &str, rrsets: &[RrSet]) -> String {
    rrsets
        .iter()
        .find(|r| r.kind == "SOA" && r.name.eq_ignore_ascii_case(zone))
        .and_then(|r| r.records.first())
        .map(|r| r.content.clone())
        .unwrap_or_default()
}

impl ChildZones {
    /// The child's SOA with `serial`: the fleet's first name server as primary,
    /// `hostmaster.<child>` as contact.
    fn soa(&self, child: &str, serial: u64) -> String {
        let primary = self.nameservers.first().map_or(".", String::as_str);
        format!("{primary} hostmaster.{child} {serial} {SOA_TIMERS}")
    }

    /// Whether `soa` (as PowerDNS shows it) names PDM's primary and contact.
    pub(super) fn is_ours(&self, child: &str, soa: &str) -> bool {
        let mut fields = soa.split_whitespace();
        let primary = self.nameservers.first().map(String::as_str);
        fields.next() == primary && fields.next() == Some(&format!("hostmaster.{child}"))
    }

    /// Whether the pool zone's `parent` RRsets delegate `child` to the fleet, as PDM does.
    fn delegates_here(&self, parent: &[RrSet], child: &str) -> bool {
        let mut fleet: Vec<&str> = self.nameservers.iter().map(String::as_str).collect();
        fleet.sort_unstable();
        parent
            .iter()
            .find(|r| r.kind == "NS" && r.name.eq_ignore_ascii_case(child))
            .is_some_and(|ns| {
                let mut named: Vec<&str> = ns.records.iter().map(|r| r.content.as_str()).collect();
                named.sort_unstable();
                named == fleet
            })
    }

    /// The pool zone's changes that delegate `child` (and publish its `ds`, when signed).
    fn delegation(&self, child: &str, ds: &[String]) -> [Change; 2] {
        [
            Change::replace(child, "NS", DELEGATION_TTL, &self.nameservers),
            if ds.is_empty() {
                Change::delete(child, "DS")
            } else {
                Change::replace(child, "DS", DELEGATION_TTL, ds)
            },
        ]
    }
}

/// The pool zone's changes that undo a delegation.
fn undelegation(child: &str) -> [Change; 2] {
    [Change::delete(child, "NS"), Change::delete(child, "DS")]
}

/// What publishing in a child zone clears at the sovereign's names in the pool zone: the
/// records a `records`-mode publish left there, or foreign ones adopting replaced. The
/// delegation would hide them; left behind they would resurface after a release.
fn cleared_in_parent(records: &SovereignRecords) -> Vec<Change> {
    records
        .relative_names()
        .flat_map(|name| {
            let name = format!("{name}.{}.", records.pool);
            ["CNAME"]
                .into_iter()
                .chain(ADDRESS_TYPES)
                .map(move |kind| Change::delete(&name, kind))
        })
        .collect()
}

impl PowerDns {
    pub(super) async fn apply_delegating(
        &self,
        zones: &ChildZones,
        pool: &PoolDomain,
        changes: &[ZoneChange],
        foreign: ForeignRecords,
    ) -> Result<Applied, DnsError> {
        let (parent, mut zone) = self.pool_view(pool).await?;
        // PDM's own delegations are not someone else's records at their labels.
        let theirs: Vec<ZoneRecord> = zone
            .iter()
            .filter(|r| {
                let at = format!("{}.{pool}.", r.name);
                !(matches!(r.record_type.as_str(), "NS" | "DS")
                    && zones.delegates_here(&parent, &at))
            })
            .cloned()
            .collect();
        let mut parent_patch = Vec::new();
        let mut dropped = Vec::new();
        let mut outcomes = Vec::new();
        for change in changes {
            let outcome = match change {
                ZoneChange::Publish(records) => match adoptable(records, &theirs, foreign) {
                    Err(conflict) => Err(conflict),
                    Ok(replaced) => match self.make_child(zones, records).await {
                        Ok(ds) => {
                            parent_patch.extend(cleared_in_parent(records));
                            parent_patch.extend(zones.delegation(&child_zone(records), &ds));
                            Ok(replaced)
                        }
                        // The server is away: the whole batch waits for the retry.
                        Err(error) if error.is_passing() => return Err(error),
                        Err(error) => Err(error),
                    },
                },
                ZoneChange::Withdraw(records) => {
                    let child = child_zone(records);
                    parent_patch.extend(withdraw_changes(records, &parent));
                    // Only PDM's own delegation, and only a zone PDM made.
                    if zones.delegates_here(&parent, &child) {
                        parent_patch.extend(undelegation(&child));
                    }
                    match self.zone_of(&child).await? {
                        Some(made) if self.made_by_pdm(&child, &made.account).await? => {
                            dropped.push(child);
                        }
                        _ => {}
                    }
                    Ok(Vec::new())
                }
            };
            outcomes.push(outcome);
        }
        match self.patch_if_any(pool, &parent_patch).await {
            Err(DnsError::Refused(_)) if changes.len() > 1 => {
                return self.apply_one_by_one(pool, changes, foreign).await;
            }
            result => result?,
        }
        for child in &dropped {
            self.drop_zone(child).await?;
        }
        for (change, outcome) in changes.iter().zip(&outcomes) {
            if outcome.is_ok() {
                let records = change.records();
                let names: Vec<String> = records.relative_names().collect();
                zone.retain(|r| !(names.contains(&r.name) && r.is_replaced_by_publishing()));
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

    /// Makes the sovereign's child zone hold what it should: the zone itself (with PDM's SOA
    /// and the fleet's NS), its address records, and, when signing, an active key, the zone
    /// rectified. The DS records to publish in the pool zone (SHA-256 digests).
    async fn make_child(
        &self,
        zones: &ChildZones,
        records: &SovereignRecords,
    ) -> Result<Vec<String>, DnsError> {
        let child = child_zone(records);
        let Some(existing) = self.own_zone(zones, &child).await? else {
            // Someone else's zone (made since PDM last read the pool): never taken over.
            let label = records.sub.as_str();
            return Err(DnsError::Conflict(vec![ZoneRecord::new(
                label, "ZONE", &child,
            )]));
        };
        let mut patch = publish_changes(records);
        patch.push(Change::replace(
            &child,
            "NS",
            DELEGATION_TTL,
            &zones.nameservers,
        ));
        let soa = soa_of(&child, &existing);
        if !zones.is_ours(&child, &soa) {
            // PDM's own zone left half-made (PowerDNS's default primary is
            // `a.misconfigured.dns.server.invalid.`): PDM's SOA, with a newer serial.
            let serial = soa
                .split_whitespace()
                .nth(2)
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
            patch.push(Change::replace(
                &child,
                "SOA",
                DELEGATION_TTL,
                &[zones.soa(&child, serial + 1)],
            ));
        }
        self.patch_zone(&child, &patch).await?;
        if !zones.dnssec {
            return Ok(Vec::new());
        }
        self.sign(&child).await
    }

    /// `child`'s RRsets when the zone is PDM's, made first when it does not exist; `None`
    /// when it is someone else's.
    async fn own_zone(
        &self,
        zones: &ChildZones,
        child: &str,
    ) -> Result<Option<Vec<RrSet>>, DnsError> {
        if self.zone_of(child).await?.is_none() {
            self.create_zone(zones, child).await?;
        }
        let Some(made) = self.zone_of(child).await? else {
            return Err(DnsError::Unavailable(format!(
                "PowerDNS has no zone {child} just after making it"
            )));
        };
        let ours = self.made_by_pdm(child, &made.account).await?;
        Ok(ours.then_some(made.rrsets))
    }

    async fn create_zone(&self, zones: &ChildZones, child: &str) -> Result<(), DnsError> {
        let soa = zones.soa(child, 1);
        let body = json!({
            "name": child,
            "kind": "Native",
            "account": PDM_ACCOUNT,
            "nameservers": zones.nameservers,
            "rrsets": [{
                "name": child, "type": "SOA", "ttl": DELEGATION_TTL,
                "records": [{"content": soa, "disabled": false}],
            }],
        });
        match self.call(Method::POST, "zones", Some(&body)).await {
            Ok(_) => Ok(()),
            // Made meanwhile, by another writer or someone else: the caller reads whose.
            Err(DnsError::Refused(why)) if why.contains("409") => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// An active key for `child` (one CSK, made when it has none), the zone rectified; the DS
    /// records of its active KSK or CSK with SHA-256 digests.
    async fn sign(&self, child: &str) -> Result<Vec<String>, DnsError> {
        let keys_path = format!("{}/cryptokeys", zone_path(child));
        let mut keys = self.keys(&keys_path).await?;
        if !keys.iter().any(|k| k.active) {
            let body = json!({"keytype": "csk", "active": true, "algorithm": KEY_ALGORITHM});
            self.call(Method::POST, &keys_path, Some(&body)).await?;
            keys = self.keys(&keys_path).await?;
        }
        let rectify = format!("{}/rectify", zone_path(child));
        self.call(Method::PUT, &rectify, None).await?;
        Ok(keys
            .iter()
            .filter(|k| k.active && matches!(k.keytype.as_str(), "ksk" | "csk"))
            .flat_map(|k| &k.ds)
            .filter(|ds| ds.split_whitespace().nth(2) == Some("2"))
            .cloned()
            .collect())
    }

    async fn keys(&self, path: &str) -> Result<Vec<CryptoKey>, DnsError> {
        let body = self
            .call(Method::GET, path, None)
            .await?
            .unwrap_or_default();
        if body.is_empty() {
            return Ok(Vec::new());
        }
        serde_json::from_slice(&body)
            .map_err(|e| DnsError::Unavailable(format!("PowerDNS answered unreadable keys: {e}")))
    }

    /// Drops `child` with its records and keys; a zone already gone is fine.
    async fn drop_zone(&self, child: &str) -> Result<(), DnsError> {
        self.call(Method::DELETE, &zone_path(child), None)
            .await
            .map(drop)
    }

    /// The address records of every sovereign zone under `pool` that the pool zone delegates
    /// to (and, when signing, publishes a DS for), relative to the pool: what resolvers
    /// reach. A child zone without its delegation or DS shows nothing, so drift reports its
    /// records missing.
    pub(super) async fn delegated_address_records(
        &self,
        zones: &ChildZones,
        pool: &PoolDomain,
        parent: &[ZoneRecord],
    ) -> Result<Vec<(String, String)>, DnsError> {
        let delegated = |label: &str, kind: &str| {
            parent
                .iter()
                .any(|r| r.name == label && r.record_type == kind)
        };
        let mut found = Vec::new();
        let labels: Vec<String> = parent
            .iter()
            .filter(|r| r.record_type == "NS" && !r.name.contains('.'))
            .map(|r| r.name.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for label in labels {
            if zones.dnssec && !delegated(&label, "DS") {
                continue;
            }
            let child = format!("{label}.{pool}.");
            let Some(rrsets) = self.rrsets_of(&child).await? else {
                continue;
            };
            let suffix = format!(".{child}");
            for rrset in rrsets
                .iter()
                .filter(|r| ADDRESS_TYPES.contains(&r.kind.as_str()))
            {
                let Some(host) = rrset.name.strip_suffix(&suffix) else {
                    continue;
                };
                for record in rrset.records.iter().filter(|r| !r.disabled) {
                    found.push((format!("{host}.{label}"), record.content.clone()));
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones() -> ChildZones {
        ChildZones {
            nameservers: vec!["ns1.openova.io.".to_owned(), "ns2.openova.io.".to_owned()],
            dnssec: true,
        }
    }

    #[test]
    fn the_soa_names_the_fleets_primary_and_the_zones_hostmaster() {
        let soa = zones().soa("acme.omani.works.", 7);

        assert_eq!(
            soa,
            "ns1.openova.io. hostmaster.acme.omani.works. 7 10800 3600 604800 3600"
        );
        assert!(zones().is_ours("acme.omani.works.", &soa));
        assert!(!zones().is_ours(
            "acme.omani.works.",
            "a.misconfigured.dns.server.invalid. hostmaster.acme.omani.works. 1 10800 3600 604800 3600"
        ));
    }

    #[test]
    fn an_unsigned_delegation_clears_any_ds() {
        let unsigned = zones().delegation("acme.omani.works.", &[]);
        let signed = zones().delegation("acme.omani.works.", &["1 13 2 ab".to_owned()]);

        assert_eq!(unsigned[0].kind, "NS");
        assert_eq!(unsigned[0].ttl, Some(DELEGATION_TTL));
        assert_eq!((unsigned[1].kind, unsigned[1].changetype), ("DS", "DELETE"));
        assert_eq!((signed[1].kind, signed[1].changetype), ("DS", "REPLACE"));
    }
}
