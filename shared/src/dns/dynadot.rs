//! Dynadot api3. Its `set_dns2` replaces the whole zone, so every change is a read-modify-write:
//! one `get_dns`, a pure edit of the [`Zone`] that keeps every other record as it came, and one
//! `set_dns2`. Writers are serialized by the caller (see `Pdm`), because Dynadot allows one
//! request at a time per key and two concurrent read-modify-writes would lose records.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::{
    Applied, Change, DnsError, DnsProvider, ForeignRecords, RetryPolicy, SovereignRecords,
    ZoneRecord, ZoneUsage, adoptable, http_client,
};
use crate::domain::PoolDomain;

/// Dynadot's per-zone limits.
pub const MAX_MAIN_RECORDS: usize = 20;
pub const MAX_SUB_RECORDS: usize = 100;
/// The zone type whose records api3 manages; a parked or forwarded domain has another.
const DYNADOT_DNS: &str = "Dynadot DNS";
/// Written when a zone reports no TTL of its own.
const DEFAULT_ZONE_TTL: &str = "300";
/// Record types PDM replaces at its own names: they cannot stand beside an A record there.
const ADDRESS_TYPES: [&str; 3] = ["a", "aaaa", "cname"];

/// One record as api3 returns it. Types stay as given, so types PDM does not know round-trip.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Record {
    /// `None` for a main (apex) record.
    #[serde(rename = "Subhost", default)]
    pub subhost: Option<String>,
    #[serde(rename = "RecordType")]
    pub record_type: String,
    #[serde(rename = "Value", default, deserialize_with = "text")]
    pub value: String,
    /// MX distance, forward/stealth option and the like.
    #[serde(rename = "Value2", default, deserialize_with = "text_if_any")]
    pub value2: Option<String>,
}

impl Record {
    fn is_at(&self, name: &str) -> bool {
        self.subhost
            .as_deref()
            .is_some_and(|host| host.eq_ignore_ascii_case(name))
    }

    fn has_type(&self, types: &[&str]) -> bool {
        types
            .iter()
            .any(|t| self.record_type.eq_ignore_ascii_case(t))
    }
}

/// A zone as api3 holds it: its type, its one TTL, main and sub records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub kind: String,
    pub ttl: Option<String>,
    pub main: Vec<Record>,
    pub sub: Vec<Record>,
}

impl Zone {
    /// The zone with the sovereign's records added, replacing whatever address records stood
    /// at its names; every other record is kept as it came, in its order.
    pub fn with_published(&self, records: &SovereignRecords) -> Self {
        let names: Vec<String> = records.relative_names().collect();
        let mut zone = self.without(&names, &ADDRESS_TYPES);
        zone.sub.extend(records.own_records().map(|own| Record {
            subhost: Some(own.name),
            record_type: own.record_type,
            value: own.value,
            value2: None,
        }));
        zone
    }

    /// Makes `change` in this zone, or says why it cannot: records PDM did not write in its
    /// way (unless adopting), or a zone that would exceed its limits. Either way the zone is
    /// left as it was for the next change. Returns the foreign records it replaced.
    fn take(
        &mut self,
        pool: &PoolDomain,
        change: &Change,
        foreign: ForeignRecords,
    ) -> Result<Vec<ZoneRecord>, DnsError> {
        let (edited, adopted) = match change {
            Change::Publish(records) => {
                let adopted = adoptable(records, &self.usage().records, foreign)?;
                (self.with_published(records), adopted)
            }
            Change::Withdraw(records) => (self.with_withdrawn(records), Vec::new()),
        };
        edited.ensure_writable(pool)?;
        *self = edited;
        Ok(adopted)
    }

    /// The zone without the sovereign's records (its type and target at its names); every
    /// other record kept as it came, someone else's at the same names included.
    pub fn with_withdrawn(&self, records: &SovereignRecords) -> Self {
        let mut zone = self.clone();
        zone.sub.retain(|r| {
            let name = r.subhost.as_deref().unwrap_or_default();
            !records.is_own(&ZoneRecord::new(name, &r.record_type, &r.value))
        });
        zone
    }

    fn without(&self, names: &[String], types: &[&str]) -> Self {
        let mut zone = self.clone();
        zone.sub
            .retain(|r| !(r.has_type(types) && names.iter().any(|n| r.is_at(n))));
        zone
    }

    /// What the zone holds: its sub records and their limit.
    pub fn usage(&self) -> ZoneUsage {
        ZoneUsage {
            record_limit: Some(MAX_SUB_RECORDS),
            records: self
                .sub
                .iter()
                .map(|r| {
                    ZoneRecord::new(
                        r.subhost.as_deref().unwrap_or_default(),
                        &r.record_type,
                        &r.value,
                    )
                })
                .collect(),
        }
    }

    fn ensure_writable(&self, pool: &PoolDomain) -> Result<(), DnsError> {
        if !self.kind.eq_ignore_ascii_case(DYNADOT_DNS) {
            return Err(DnsError::Unwritable(format!(
                "{pool} is not on Dynadot DNS (its type is {:?}); PDM will not replace it",
                self.kind
            )));
        }
        if self.main.len() > MAX_MAIN_RECORDS || self.sub.len() > MAX_SUB_RECORDS {
            return Err(DnsError::Full(format!(
                "{pool} would hold {} main and {} sub records; Dynadot allows \
                 {MAX_MAIN_RECORDS} and {MAX_SUB_RECORDS}",
                self.main.len(),
                self.sub.len()
            )));
        }
        Ok(())
    }

    /// The query of a `set_dns2` that writes this zone whole. Types are lowercase on the way
    /// in; `*_recordx` carries `Value2`; the zone keeps its TTL.
    pub fn set_dns2_query(&self, domain: &str) -> Vec<(String, String)> {
        let mut query = vec![
            ("command".to_owned(), "set_dns2".to_owned()),
            ("domain".to_owned(), domain.to_owned()),
        ];
        for (i, record) in self.main.iter().enumerate() {
            query.push((
                format!("main_record_type{i}"),
                record.record_type.to_lowercase(),
            ));
            query.push((format!("main_record{i}"), record.value.clone()));
            if let Some(value2) = &record.value2 {
                query.push((format!("main_recordx{i}"), value2.clone()));
            }
        }
        for (i, record) in self.sub.iter().enumerate() {
            let subhost = record.subhost.clone().unwrap_or_default();
            query.push((format!("subdomain{i}"), subhost));
            query.push((
                format!("sub_record_type{i}"),
                record.record_type.to_lowercase(),
            ));
            query.push((format!("sub_record{i}"), record.value.clone()));
            if let Some(value2) = &record.value2 {
                query.push((format!("sub_recordx{i}"), value2.clone()));
            }
        }
        let ttl = self.ttl.as_deref().filter(|t| !t.is_empty());
        query.push(("ttl".to_owned(), ttl.unwrap_or(DEFAULT_ZONE_TTL).to_owned()));
        query
    }

    /// Reads the inner answer of a successful `get_dns` (see [`api_answer`]).
    pub fn from_get_dns(answer: &Value) -> Result<Self, DnsError> {
        let settings = &answer["GetDns"]["NameServerSettings"];
        let kind = settings["Type"].as_str().ok_or_else(|| {
            DnsError::Unavailable("get_dns answered without NameServerSettings".to_owned())
        })?;
        let records = |key: &str| -> Result<Vec<Record>, DnsError> {
            match &settings[key] {
                Value::Null => Ok(Vec::new()),
                list => Vec::<Record>::deserialize(list).map_err(|e| {
                    DnsError::Unavailable(format!("get_dns answered unreadable {key}: {e}"))
                }),
            }
        };
        Ok(Self {
            kind: kind.to_owned(),
            ttl: optional_text(&settings["TTL"]).ok().flatten(),
            main: records("MainDomains")?,
            sub: records("SubDomains")?,
        })
    }
}

/// The inner answer of an api3 response (`{"<Command>Response": {...}}`, or `{"Response": ...}`
/// for errors), when its `ResponseCode` (a number or a string) is 0.
fn api_answer<'a>(body: &'a Value, expected: &str) -> Result<&'a Value, DnsError> {
    inner_answer(body, expected).map_err(|failure| match failure {
        Api3Failure::Malformed(what) => DnsError::Unavailable(what.to_owned()),
        Api3Failure::Error(message) => classify(message),
    })
}

/// Why an api3 answer is not a success.
#[derive(Debug)]
pub(crate) enum Api3Failure {
    /// Not api3's shape at all.
    Malformed(&'static str),
    /// The `Error` text (or the code) of an answer that says it failed.
    Error(String),
}

/// The inner object of an api3 answer (`{"<Command>Response": {…}}`, or the `Response` of
/// failures such as a refused key), when it says success (`ResponseCode` 0 as text or number).
pub(crate) fn inner_answer<'a>(body: &'a Value, expected: &str) -> Result<&'a Value, Api3Failure> {
    let object = body.as_object().ok_or(Api3Failure::Malformed(
        "api3 answered something other than an object",
    ))?;
    let answer = object
        .get(expected)
        .or_else(|| object.get("Response"))
        .or_else(|| object.values().next())
        .ok_or(Api3Failure::Malformed("api3 answered an empty object"))?;
    let code = optional_text(&answer["ResponseCode"]).ok().flatten();
    let failed = answer["Status"]
        .as_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("error"));
    if code.as_deref() == Some("0") && !failed {
        return Ok(answer);
    }
    let message = answer["Error"]
        .as_str()
        .map_or_else(|| format!("ResponseCode {code:?}"), str::to_owned);
    Err(Api3Failure::Error(message))
}

/// Dynadot's passing failures say so in words; anything else is a refusal.
fn classify(message: String) -> DnsError {
    if is_passing(&message) {
        DnsError::Unavailable(message)
    } else {
        DnsError::Refused(message)
    }
}

/// Whether an api3 `Error` text says the failure passes (an outage, a timeout, refused
/// concurrency): the same words whichever key made the call.
pub(crate) fn is_passing(message: &str) -> bool {
    let lower = message.to_lowercase();
    [
        "problem with connection",
        "try again",
        "timeout",
        "timed out",
        "too many",
        "busy",
        "concurrent",
    ]
    .iter()
    .any(|p| lower.contains(p))
}

fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(text_if_any(deserializer)?.unwrap_or_default())
}

fn text_if_any<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    optional_text(&Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
}

/// api3 writes numbers as numbers or as strings, depending on the field and the day.
fn optional_text(value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(format!("expected text or a number, found {other}")),
    }
}

/// The api3 client. `Debug` shows no key: `SecretString` redacts it.
#[derive(Debug)]
pub struct Dynadot {
    http: reqwest::Client,
    url: String,
    key: SecretString,
    retry: RetryPolicy,
}

impl Dynadot {
    pub fn new(
        url: &str,
        key: SecretString,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<Self, DnsError> {
        Ok(Self {
            http: http_client(timeout, reqwest::header::HeaderMap::new())?,
            url: url.to_owned(),
            key,
            retry,
        })
    }

    pub async fn get_dns(&self, pool: &PoolDomain) -> Result<Zone, DnsError> {
        let query = [
            ("command".to_owned(), "get_dns".to_owned()),
            ("domain".to_owned(), pool.to_string()),
        ];
        Zone::from_get_dns(&self.call(&query, "GetDnsResponse").await?)
    }

    pub async fn set_dns2(&self, pool: &PoolDomain, zone: &Zone) -> Result<(), DnsError> {
        let query = zone.set_dns2_query(pool.as_str());
        self.call(&query, "SetDnsResponse").await.map(drop)
    }

    /// One api3 request, retried with backoff and jitter while it fails in passing, whether
    /// over HTTP or in an answer of HTTP 200. Returns the inner `answer_key` object.
    async fn call(&self, query: &[(String, String)], answer_key: &str) -> Result<Value, DnsError> {
        let command = query.first().map_or("", |(_, c)| c.as_str());
        self.retry
            .run(command, &self.key, || self.request(query, answer_key))
            .await
    }

    async fn request(
        &self,
        query: &[(String, String)],
        answer_key: &str,
    ) -> Result<Value, DnsError> {
        // reqwest errors quote the URL, which carries the key: strip it from every one (and
        // `RetryPolicy::run` scrubs the key from whatever text is left).
        let transport = |e: reqwest::Error| DnsError::Unavailable(e.without_url().to_string());
        let response = self
            .http
            .get(&self.url)
            .query(&[("key", self.key.expose_secret())])
            .query(query)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let body = crate::outbound::read_capped(response)
            .await
            .map_err(|e| DnsError::Unavailable(format!("api3 answer not read: {e}")))?;
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(DnsError::Unavailable(format!(
                "api3 answered HTTP {status}"
            )));
        }
        if !status.is_success() {
            return Err(DnsError::Refused(format!("api3 answered HTTP {status}")));
        }
        let body: Value = serde_json::from_slice(&body).map_err(|_| {
            DnsError::Unavailable(format!(
                "api3 answered HTTP {status} with a body that is not JSON"
            ))
        })?;
        api_answer(&body, answer_key).cloned()
    }
}

#[async_trait::async_trait]
impl DnsProvider for Dynadot {
    fn name(&self) -> &'static str {
        "dynadot"
    }

    /// One key, one request at a time: every zone of the account shares the lock.
    fn lock_key(&self, _pool: &PoolDomain) -> String {
        "dynadot".to_owned()
    }

    fn record_limit(&self) -> Option<usize> {
        Some(MAX_SUB_RECORDS)
    }

    fn reads_zones(&self) -> bool {
        true
    }

    /// A batch costs two calls of hundreds of milliseconds each; 25 ms lets the rest of a
    /// burst (requests arriving together) join it.
    fn batch_window(&self) -> Duration {
        Duration::from_millis(25)
    }

    /// One `get_dns` and one `set_dns2` for the whole batch (none when the zone already
    /// holds it): api3 replaces the whole zone, and takes one request at a time per key.
    async fn apply(
        &self,
        pool: &PoolDomain,
        changes: &[Change],
        foreign: ForeignRecords,
    ) -> Result<Applied, DnsError> {
        let read = self.get_dns(pool).await?;
        read.ensure_writable(pool)?;
        let mut zone = read.clone();
        let outcomes = changes
            .iter()
            .map(|change| zone.take(pool, change, foreign))
            .collect();
        if zone != read {
            self.set_dns2(pool, &zone).await?;
        }
        Ok(Applied {
            zone: Some(zone.usage()),
            outcomes,
        })
    }

    async fn address_records(
        &self,
        pool: &PoolDomain,
    ) -> Result<Option<Vec<(String, String)>>, DnsError> {
        let zone = self.get_dns(pool).await?;
        Ok(Some(
            zone.sub
                .iter()
                .filter(|r| r.has_type(&ADDRESS_TYPES[..2]))
                .filter_map(|r| Some((r.subhost.clone()?, r.value.clone())))
                .collect(),
        ))
    }

    async fn usage(&self, pool: &PoolDomain) -> Result<Option<ZoneUsage>, DnsError> {
        Ok(Some(self.get_dns(pool).await?.usage()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::{ManagedDomains, Subdomain};

    fn records(sub: &str, target: &str) -> SovereignRecords {
        SovereignRecords {
            pool: ManagedDomains::parse("omani.works")
                .unwrap()
                .resolve("omani.works")
                .unwrap(),
            sub: Subdomain::parse(sub).unwrap(),
            targets: super::super::DEFAULT_SOVEREIGN_HOSTS
                .map(|host| (host.to_owned(), target.parse().unwrap()))
                .to_vec(),
        }
    }

    fn sample_get_dns() -> Value {
        json!({"GetDnsResponse": {"ResponseCode": "0", "Status": "success", "GetDns": {
        "NameServerSettings": {
            "Type": "Dynadot DNS",
            "MainDomains": [
                {"RecordType": "A", "Value": "192.0.2.1"},
                {"RecordType": "MX", "Value": "mx.example.net", "Value2": 10},
                {"RecordType": "TXT", "Value": "v=spf1 -all"}
            ],
            "SubDomains": [
                {"Subhost": "*", "RecordType": "A", "Value": "192.0.2.1"},
                {"Subhost": "www", "RecordType": "CNAME", "Value": "omani.works"},
                {"Subhost": "console.acme", "RecordType": "A", "Value": "192.0.2.200"},
                {"Subhost": "console.acme", "RecordType": "TXT", "Value": "keep me"},
                {"Subhost": "mail", "RecordType": "MX", "Value": "mx.example.net", "Value2": "20"},
                {"Subhost": "odd", "RecordType": "Stealth", "Value": "https://x", "Value2": "Title"}
            ],
            "TTL": "3600"
        }}}})
    }

    fn zone_of(body: &Value) -> Result<Zone, DnsError> {
        Zone::from_get_dns(api_answer(body, "GetDnsResponse")?)
    }

    #[test]
    fn get_dns_reads_every_record_with_value2_and_the_zone_ttl() {
        let zone = zone_of(&sample_get_dns()).unwrap();

        assert_eq!(zone.kind, "Dynadot DNS");
        assert_eq!(zone.ttl.as_deref(), Some("3600"));
        assert_eq!(zone.main.len(), 3);
        assert_eq!(zone.main[1].value2.as_deref(), Some("10"), "numeric Value2");
        assert_eq!(zone.sub.len(), 6);
        assert_eq!(zone.sub[4].value2.as_deref(), Some("20"));
        assert_eq!(
            zone.sub[5].record_type, "Stealth",
            "unknown types round-trip"
        );
    }

    #[test]
    fn get_dns_tolerates_numeric_codes_and_absent_arrays() {
        let body = json!({"GetDnsResponse": {"ResponseCode": 0, "Status": "success",
            "GetDns": {"NameServerSettings": {"Type": "Dynadot DNS"}}}});

        let zone = zone_of(&body).unwrap();

        assert!(zone.main.is_empty() && zone.sub.is_empty() && zone.ttl.is_none());
    }

    #[test]
    fn errors_in_either_shape_are_classified() {
        let invalid_key = json!({"Response": {"ResponseCode": "-1", "Error": "invalid key"}});
        let passing = json!({"GetDnsResponse": {"ResponseCode": "-1", "Status": "error",
            "Error": "There was a problem with connection to main server, please try again"}});

        assert!(matches!(zone_of(&invalid_key), Err(DnsError::Refused(m)) if m == "invalid key"));
        assert!(matches!(zone_of(&passing), Err(DnsError::Unavailable(_))));
    }

    #[test]
    fn publish_replaces_only_address_records_at_the_six_names_and_keeps_the_rest() {
        let zone = zone_of(&sample_get_dns()).unwrap();

        let published = zone.with_published(&records("acme", "203.0.113.10"));

        assert_eq!(published.main, zone.main);
        let kept: Vec<_> = zone
            .sub
            .iter()
            .filter(|r| !(r.is_at("console.acme") && r.record_type == "A"))
            .cloned()
            .collect();
        assert_eq!(
            published.sub[..kept.len()],
            kept[..],
            "other records kept in order"
        );
        let added: Vec<_> = published.sub[kept.len()..]
            .iter()
            .map(|r| {
                (
                    r.subhost.clone().unwrap(),
                    r.record_type.as_str(),
                    r.value.as_str(),
                )
            })
            .collect();
        assert_eq!(added.len(), 6);
        assert!(
            added
                .iter()
                .all(|(_, t, v)| *t == "A" && *v == "203.0.113.10")
        );
        assert_eq!(published.ttl, zone.ttl);
        assert_eq!(
            published.with_published(&records("acme", "203.0.113.10")),
            published,
            "idempotent"
        );
    }

    #[test]
    fn withdraw_removes_exactly_what_publish_added() {
        let zone = zone_of(&sample_get_dns()).unwrap();
        let acme = records("acme", "203.0.113.10");
        let other = records("beta", "198.51.100.1");
        let both = zone.with_published(&acme).with_published(&other);

        let withdrawn = both.with_withdrawn(&acme);

        assert_eq!(
            withdrawn,
            zone.without(&["console.acme".to_owned()], &["a"])
                .with_published(&other)
        );
        assert!(
            withdrawn
                .sub
                .iter()
                .any(|r| r.is_at("console.acme") && r.record_type == "TXT")
        );
    }

    #[test]
    fn ipv6_targets_get_aaaa_records() {
        let zone = zone_of(&sample_get_dns()).unwrap();

        let published = zone.with_published(&records("acme", "2001:db8::1"));

        assert!(
            published
                .sub
                .iter()
                .rev()
                .take(6)
                .all(|r| r.record_type == "AAAA")
        );
    }

    #[test]
    fn set_dns2_query_writes_lowercase_types_value2_and_the_zone_ttl() {
        let zone = zone_of(&sample_get_dns()).unwrap();

        let query = zone.set_dns2_query("omani.works");

        let get = |key: &str| {
            query
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("command"), Some("set_dns2"));
        assert_eq!(get("main_record_type1"), Some("mx"));
        assert_eq!(get("main_recordx1"), Some("10"));
        assert_eq!(get("main_recordx0"), None, "no Value2, no recordx");
        assert_eq!(get("subdomain4"), Some("mail"));
        assert_eq!(get("sub_recordx4"), Some("20"));
        assert_eq!(get("sub_record_type5"), Some("stealth"));
        assert_eq!(get("ttl"), Some("3600"));
        assert!(
            get("add_dns_to_current_setting").is_none(),
            "a whole-zone write"
        );
    }

    #[test]
    fn a_zone_without_ttl_is_written_with_300() {
        let zone = Zone {
            kind: DYNADOT_DNS.to_owned(),
            ttl: None,
            main: vec![],
            sub: vec![],
        };

        let query = zone.set_dns2_query("omani.works");

        assert!(query.contains(&("ttl".to_owned(), "300".to_owned())));
    }

    #[test]
    fn parked_zones_and_oversized_zones_are_refused() {
        let pool = records("acme", "192.0.2.1").pool;
        let parked = Zone {
            kind: "Parking".to_owned(),
            ttl: None,
            main: vec![],
            sub: vec![],
        };
        let mut full = Zone {
            kind: DYNADOT_DNS.to_owned(),
            ..parked.clone()
        };
        full.sub = (0..=MAX_SUB_RECORDS)
            .map(|i| Record {
                subhost: Some(format!("h{i}")),
                record_type: "A".to_owned(),
                value: "192.0.2.1".to_owned(),
                value2: None,
            })
            .collect();

        assert!(
            matches!(parked.ensure_writable(&pool), Err(DnsError::Unwritable(m)) if m.contains("Parking"))
        );
        assert!(matches!(full.ensure_writable(&pool), Err(DnsError::Full(m)) if m.contains("100")));
    }
}
