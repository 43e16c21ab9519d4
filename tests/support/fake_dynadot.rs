//! A fake Dynadot api3 server with the real semantics that matter to PDM: `set_dns2` replaces
//! the whole zone (unless `add_dns_to_current_setting=1`), the 20 main / 100 sub record limits,
//! errors in both api3 shapes with HTTP 200, and one request at a time per key — an overlapping
//! request is counted and refused, as Dynadot refuses it. Faults and latency can be injected.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use pdm_runtime::Shutdown;
use serde_json::{Value, json};

const MAX_MAIN: usize = 20;
const MAX_SUB: usize = 100;
const KNOWN_TYPES: [&str; 9] = [
    "a", "aaaa", "cname", "forward", "txt", "mx", "stealth", "email", "srv",
];
pub const PASSING_FAILURE: &str =
    "There was a problem with connection to main server, please try again later";

/// One record as the fake keeps it; types are stored as api3 reports them (uppercase).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FakeRecord {
    pub subhost: Option<String>,
    pub record_type: String,
    pub value: String,
    pub value2: Option<String>,
}

impl FakeRecord {
    pub fn main(record_type: &str, value: &str, value2: Option<&str>) -> Self {
        Self {
            subhost: None,
            record_type: record_type.to_uppercase(),
            value: value.to_owned(),
            value2: value2.map(str::to_owned),
        }
    }

    pub fn sub(subhost: &str, record_type: &str, value: &str, value2: Option<&str>) -> Self {
        Self {
            subhost: Some(subhost.to_owned()),
            ..Self::main(record_type, value, value2)
        }
    }

    fn to_json(&self) -> Value {
        let mut record = json!({"RecordType": self.record_type, "Value": self.value});
        if let Some(subhost) = &self.subhost {
            record["Subhost"] = json!(subhost);
        }
        if let Some(value2) = &self.value2 {
            record["Value2"] = json!(value2);
        }
        record
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeZone {
    pub kind: String,
    pub ttl: String,
    pub main: Vec<FakeRecord>,
    pub sub: Vec<FakeRecord>,
}

impl FakeZone {
    /// A pool zone as operators left it: parking at the apex, mail, SPF, a CNAME, and a
    /// stealth forward, at a zone TTL of one hour.
    pub fn with_foreign_records() -> Self {
        Self {
            kind: "Dynadot DNS".to_owned(),
            ttl: "3600".to_owned(),
            main: vec![
                FakeRecord::main("a", "192.0.2.1", None),
                FakeRecord::main("mx", "mx1.example.net", Some("10")),
                FakeRecord::main("txt", "v=spf1 include:example.net -all", None),
            ],
            sub: vec![
                FakeRecord::sub("*", "a", "192.0.2.1", None),
                FakeRecord::sub("www", "cname", "omani.works", None),
                FakeRecord::sub("mail", "mx", "mx2.example.net", Some("20")),
                FakeRecord::sub("_dmarc", "txt", "v=DMARC1; p=reject", None),
                FakeRecord::sub("docs", "stealth", "https://docs.example.net", Some("Docs")),
            ],
        }
    }

    /// A parked domain: api3 reports another type and no records PDM may rewrite.
    pub fn parked() -> Self {
        Self {
            kind: "Dynadot Parking".to_owned(),
            ttl: String::new(),
            main: vec![],
            sub: vec![],
        }
    }

    /// Sub records at `name` (case-insensitive).
    pub fn at(&self, name: &str) -> Vec<&FakeRecord> {
        self.sub
            .iter()
            .filter(|r| {
                r.subhost
                    .as_deref()
                    .is_some_and(|h| h.eq_ignore_ascii_case(name))
            })
            .collect()
    }
}

#[derive(Default)]
struct State {
    zones: BTreeMap<String, FakeZone>,
    /// Each seeded domain's name servers (domain_info, set_ns).
    nameservers: BTreeMap<String, Vec<String>>,
    /// Name servers registered in the account (add_ns): set_ns takes only these.
    registered_ns: Vec<String>,
    calls: BTreeMap<String, usize>,
    fault_rate: f64,
    /// Failures quote the request, key and all, as some providers' error pages do.
    echo_requests: bool,
    latency: Duration,
    rng: Option<fastrand::Rng>,
}

/// A running fake, stopped when dropped.
pub struct FakeDynadot {
    pub url: String,
    key: String,
    state: Arc<Mutex<State>>,
    in_flight: Arc<AtomicUsize>,
    overlaps: Arc<AtomicUsize>,
    shutdown: Shutdown,
}

impl FakeDynadot {
    pub async fn start(key: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api3.json", listener.local_addr().unwrap());
        let fake = Self {
            url,
            key: key.to_owned(),
            state: Arc::new(Mutex::new(State {
                rng: Some(fastrand::Rng::with_seed(7)),
                ..State::default()
            })),
            in_flight: Arc::new(AtomicUsize::new(0)),
            overlaps: Arc::new(AtomicUsize::new(0)),
            shutdown: Shutdown::new(),
        };
        let handler = Handler {
            key: fake.key.clone(),
            state: fake.state.clone(),
            in_flight: fake.in_flight.clone(),
            overlaps: fake.overlaps.clone(),
        };
        let service = tower::service_fn(move |request: Request<hyper::body::Incoming>| {
            let handler = handler.clone();
            async move { Ok::<_, Infallible>(handler.answer(request.uri().query().unwrap_or("")).await) }
        });
        tokio::spawn(pdm_runtime::serve(listener, service, fake.shutdown.clone()));
        fake
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn seed(&self, domain: &str, zone: FakeZone) {
        let mut state = self.state();
        state.zones.insert(domain.to_owned(), zone);
        state.nameservers.insert(
            domain.to_owned(),
            vec!["ns1.dyna-ns.net".to_owned(), "ns2.dyna-ns.net".to_owned()],
        );
    }

    /// The domain's name servers, as domain_info reports them.
    pub fn nameservers(&self, domain: &str) -> Vec<String> {
        self.state().nameservers[domain].clone()
    }

    pub fn zone(&self, domain: &str) -> FakeZone {
        self.state()
            .zones
            .get(domain)
            .cloned()
            .expect("a seeded zone")
    }

    /// How many requests of `command` arrived (failed ones included).
    pub fn calls(&self, command: &str) -> usize {
        self.state().calls.get(command).copied().unwrap_or(0)
    }

    pub fn reset_calls(&self) {
        self.state().calls.clear();
    }

    /// Requests that arrived while another was in flight: Dynadot refuses those.
    pub fn overlaps(&self) -> usize {
        self.overlaps.load(Ordering::SeqCst)
    }

    /// The share of requests answered with Dynadot's passing failure.
    pub fn set_fault_rate(&self, rate: f64) {
        self.state().fault_rate = rate;
    }

    /// Makes every failure quote the request's query string, the key in it percent-encoded.
    pub fn set_echo_requests(&self, echo: bool) {
        self.state().echo_requests = echo;
    }

    pub fn set_latency(&self, latency: Duration) {
        self.state().latency = latency;
    }
}

impl Drop for FakeDynadot {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

#[derive(Clone)]
struct Handler {
    key: String,
    state: Arc<Mutex<State>>,
    in_flight: Arc<AtomicUsize>,
    overlaps: Arc<AtomicUsize>,
}

impl Handler {
    async fn answer(&self, query: &str) -> Response<Full<Bytes>> {
        let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let command = param("command").unwrap_or("").to_owned();
        // A guard, because a request whose client vanished is dropped mid-way, not finished.
        let (_in_flight, overlapping) = InFlight::enter(&self.in_flight);
        if overlapping {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        let (latency, fault, echo) = {
            let mut state = self.state.lock().unwrap();
            *state.calls.entry(command.clone()).or_default() += 1;
            let rate = state.fault_rate;
            let roll = state.rng.as_mut().map_or(1.0, fastrand::Rng::f64);
            (state.latency, roll < rate, state.echo_requests)
        };
        tokio::time::sleep(latency).await;
        let body = if param("key") != Some(self.key.as_str()) {
            json!({"Response": {"ResponseCode": "-1", "Error": "invalid key"}})
        } else if overlapping {
            error_of(&command, "concurrent requests are not allowed for this key")
        } else if fault && echo {
            error_of(&command, &format!("{PASSING_FAILURE} (request: {query})"))
        } else if fault {
            error_of(&command, PASSING_FAILURE)
        } else {
            let domain = param("domain").unwrap_or("");
            match command.as_str() {
                "get_dns" => self.get_dns(domain),
                "set_dns2" => self.set_dns2(domain, &params),
                "domain_info" => self.domain_info(domain),
                "add_ns" => self.add_ns(param("host").unwrap_or("")),
                "set_ns" => self.set_ns(domain, &params),
                other => {
                    json!({"Response": {"ResponseCode": "-1", "Error": format!("unknown command {other}")}})
                }
            }
        };
        let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            "application/json".parse().unwrap(),
        );
        response
    }

    fn domain_info(&self, domain: &str) -> Value {
        let state = self.state.lock().unwrap();
        let Some(nameservers) = state.nameservers.get(domain) else {
            return error_of("domain_info", "could not find domain in your account");
        };
        let servers: Vec<Value> = nameservers
            .iter()
            .enumerate()
            .map(|(i, ns)| json!({"ServerId": i.to_string(), "ServerName": ns}))
            .collect();
        json!({"DomainInfoResponse": {"ResponseCode": 0, "Status": "success", "DomainInfo": {
            "Name": domain, "Expiration": "1893456000000",
            "NameServerSettings": {"Type": "Name Servers", "NameServers": servers},
        }}})
    }

    /// api3 `add_ns`: registers a name server host in the account.
    fn add_ns(&self, host: &str) -> Value {
        let mut state = self.state.lock().unwrap();
        let host = host.to_ascii_lowercase();
        if !pdm_core::domain::is_hostname(&host) || !host.contains('.') {
            return error_of("add_ns", "invalid host name");
        }
        if state.registered_ns.contains(&host) {
            return error_of("add_ns", &format!("{host} already exists in your account"));
        }
        state.registered_ns.push(host.clone());
        let id = state.registered_ns.len().to_string();
        json!({"AddNsResponse": {"ResponseCode": 0, "Status": "success", "AddNsContent": {"Host": host, "ServerId": id}}})
    }

    /// api3 `set_ns`: `ns0`..`ns12`, each registered in the account first.
    fn set_ns(&self, domain: &str, params: &[(String, String)]) -> Value {
        let mut state = self.state.lock().unwrap();
        if !state.nameservers.contains_key(domain) {
            return error_of("set_ns", "could not find domain in your account");
        }
        let mut hosts = Vec::new();
        for i in 0..13 {
            let Some((_, host)) = params.iter().find(|(k, _)| *k == format!("ns{i}")) else {
                break;
            };
            let host = host.to_ascii_lowercase();
            if !state.registered_ns.contains(&host) {
                return error_of(
                    "set_ns",
                    &format!(
                        "'{host}' needs to be registered with an ip address before it can be used"
                    ),
                );
            }
            hosts.push(host);
        }
        if hosts.is_empty() {
            return error_of("set_ns", "no name servers given");
        }
        state.nameservers.insert(domain.to_owned(), hosts);
        json!({"SetNsResponse": {"ResponseCode": 0, "Status": "success"}})
    }

    fn get_dns(&self, domain: &str) -> Value {
        let state = self.state.lock().unwrap();
        let Some(zone) = state.zones.get(domain) else {
            return error_of("get_dns", "domain not found in your account");
        };
        let mut settings = json!({"Type": zone.kind});
        // api3 leaves out what is empty.
        if !zone.main.is_empty() {
            settings["MainDomains"] = zone.main.iter().map(FakeRecord::to_json).collect();
        }
        if !zone.sub.is_empty() {
            settings["SubDomains"] = zone.sub.iter().map(FakeRecord::to_json).collect();
        }
        if !zone.ttl.is_empty() {
            settings["TTL"] = json!(zone.ttl);
        }
        json!({"GetDnsResponse": {"ResponseCode": 0, "Status": "success",
               "GetDns": {"NameServerSettings": settings}}})
    }

    fn set_dns2(&self, domain: &str, params: &[(String, String)]) -> Value {
        let param = |name: String| {
            params
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        };
        let read = |prefix: &str, subhost_key: Option<&str>| -> Result<Vec<FakeRecord>, String> {
            let mut records = Vec::new();
            for i in 0.. {
                let Some(record_type) = param(format!("{prefix}_record_type{i}")) else {
                    break;
                };
                if !KNOWN_TYPES.contains(&record_type.as_str()) {
                    return Err(format!("invalid record type {record_type:?}"));
                }
                records.push(FakeRecord {
                    subhost: subhost_key.map(|key| param(format!("{key}{i}")).unwrap_or_default()),
                    record_type: record_type.to_uppercase(),
                    value: param(format!("{prefix}_record{i}")).unwrap_or_default(),
                    value2: param(format!("{prefix}_recordx{i}")),
                });
            }
            Ok(records)
        };
        let (main, sub) = match (read("main", None), read("sub", Some("subdomain"))) {
            (Ok(main), Ok(sub)) => (main, sub),
            (Err(e), _) | (_, Err(e)) => return error_of("set_dns2", &e),
        };
        let mut state = self.state.lock().unwrap();
        let Some(zone) = state.zones.get_mut(domain) else {
            return error_of("set_dns2", "domain not found in your account");
        };
        let mut next = FakeZone {
            kind: "Dynadot DNS".to_owned(),
            ttl: param("ttl".to_owned()).unwrap_or_default(),
            main,
            sub,
        };
        if param("add_dns_to_current_setting".to_owned()).as_deref() == Some("1") {
            next.main.splice(0..0, zone.main.iter().cloned());
            next.sub.splice(0..0, zone.sub.iter().cloned());
        }
        if next.main.len() > MAX_MAIN || next.sub.len() > MAX_SUB {
            return error_of("set_dns2", "too many records");
        }
        *zone = next;
        json!({"SetDnsResponse": {"ResponseCode": "0", "Status": "success"}})
    }
}

/// Counts a request as in flight for as long as it lives.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    /// Enters, and says whether another request was already in flight.
    fn enter(counter: &Arc<AtomicUsize>) -> (Self, bool) {
        let before = counter.fetch_add(1, Ordering::SeqCst);
        (Self(counter.clone()), before > 0)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn error_of(command: &str, message: &str) -> Value {
    let key = match command {
        "get_dns" => "GetDnsResponse",
        "set_dns2" => "SetDnsResponse",
        "domain_info" => "DomainInfoResponse",
        "add_ns" => "AddNsResponse",
        "set_ns" => "SetNsResponse",
        _ => "Response",
    };
    json!({key: {"ResponseCode": "-1", "Status": "error", "Error": message}})
}
