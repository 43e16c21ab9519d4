//! Fakes of the registrars' APIs, written from their public documentation: request shapes,
//! authentication, error bodies and rate limits. Each keeps an account (its domains, their
//! name servers and records) that the adapters really change, refuses what the real API
//! refuses, and, as the worst case for PDM's secrets, echoes the credentials it was sent in
//! its error bodies.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use pdm_runtime::Shutdown;
use serde_json::{Value, json};

/// A request as a fake sees it.
pub struct Asked {
    pub method: Method,
    pub path: String,
    /// The query as sent, for signatures over the exact URL.
    pub raw_query: Option<String>,
    pub query: BTreeMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Asked {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

pub type Answer = Response<Full<Bytes>>;

pub fn answer(status: StatusCode, body: &Value, headers: &[(&'static str, String)]) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    for (name, value) in headers {
        response.headers_mut().insert(*name, value.parse().unwrap());
    }
    response
}

/// Serves `respond` on a loopback port until the returned handle drops; its base URL.
pub async fn serve<F>(respond: F) -> (String, Shutdown)
where
    F: Fn(Asked) -> Answer + Clone + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = Shutdown::new();
    let service = tower::service_fn(move |request: http::Request<hyper::body::Incoming>| {
        let respond = respond.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let query = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
            Ok::<_, Infallible>(respond(Asked {
                method: parts.method,
                path: parts.uri.path().to_owned(),
                raw_query: parts.uri.query().map(str::to_owned),
                query,
                headers: parts.headers,
                body,
            }))
        }
    });
    tokio::spawn(pdm_runtime::serve(listener, service, shutdown.clone()));
    (url, shutdown)
}

/// One domain of a fake account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeDomain {
    pub nameservers: Vec<String>,
    /// (type, name relative to the domain or `@`, value, ttl, priority)
    pub records: Vec<(String, String, String, u32, Option<u16>)>,
}

/// What every fake shares: its account, a request budget per window (the rate limit), an
/// outage switch and a request counter.
#[derive(Debug, Default)]
pub struct Account {
    pub domains: BTreeMap<String, FakeDomain>,
    /// Requests answered before the rate limit refuses the rest.
    pub budget: Option<usize>,
    pub down: bool,
    pub requests: usize,
}

/// A running fake registrar; stops when dropped.
pub struct FakeRegistrar {
    pub url: String,
    pub account: Arc<Mutex<Account>>,
    _shutdown: Shutdown,
}

impl Drop for FakeRegistrar {
    fn drop(&mut self) {
        self._shutdown.trigger();
    }
}

impl FakeRegistrar {
    pub fn add_domain(&self, domain: &str, nameservers: &[&str]) {
        self.account.lock().unwrap().domains.insert(
            domain.to_owned(),
            FakeDomain {
                nameservers: nameservers.iter().map(|ns| ns.to_string()).collect(),
                records: Vec::new(),
            },
        );
    }

    pub fn domain(&self, domain: &str) -> FakeDomain {
        self.account.lock().unwrap().domains[domain].clone()
    }

    pub fn requests(&self) -> usize {
        self.account.lock().unwrap().requests
    }

    /// Answers `requests` more, then refuses as the registrar's rate limit does.
    pub fn limit_to(&self, requests: usize) {
        let mut account = self.account.lock().unwrap();
        account.budget = Some(account.requests + requests);
    }

    pub fn set_down(&self, down: bool) {
        self.account.lock().unwrap().down = down;
    }

    async fn start<F>(respond: F) -> Self
    where
        F: Fn(&mut Account, Asked) -> Answer + Send + Sync + 'static,
    {
        let account = Arc::new(Mutex::new(Account::default()));
        let respond = Arc::new(respond);
        let shared = account.clone();
        let (url, shutdown) = serve(move |asked| {
            let mut account = shared.lock().unwrap();
            account.requests += 1;
            respond(&mut account, asked)
        })
        .await;
        Self {
            url,
            account,
            _shutdown: shutdown,
        }
    }
}

fn over_budget(account: &Account) -> bool {
    account
        .budget
        .is_some_and(|budget| account.requests > budget)
}

fn is_hostname(name: &str) -> bool {
    pdm_core::domain::is_hostname(name.trim_end_matches('.')) && name.contains('.')
}

// ---------------------------------------------------------------------------------------
// GoDaddy Domains API v1: `Authorization: sso-key {key}:{secret}`; errors `{"code","message"}`;
// 60 requests per minute per endpoint, then 429 with `retryAfterSec`.

pub async fn godaddy(key: &str, secret: &str) -> FakeRegistrar {
    let expected = format!("sso-key {key}:{secret}");
    FakeRegistrar::start(move |account, asked| {
        let error = |status: StatusCode, code: &str, message: String| {
            answer(status, &json!({"code": code, "message": message}), &[])
        };
        if account.down {
            return error(StatusCode::SERVICE_UNAVAILABLE, "INTERNAL_SERVER_ERROR", "try later".into());
        }
        if over_budget(account) {
            return answer(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({"code": "TOO_MANY_REQUESTS", "message": "Too many requests", "retryAfterSec": 30}),
                &[],
            );
        }
        let authorization = asked.header("authorization");
        if authorization != expected {
            return error(
                StatusCode::UNAUTHORIZED,
                "UNABLE_TO_AUTHENTICATE",
                format!("Unable to authenticate with credentials {authorization:?}"),
            );
        }
        let segments: Vec<&str> = asked.path.trim_start_matches('/').split('/').collect();
        let (domain, rest) = match segments.as_slice() {
            ["v1", "domains", domain, rest @ ..] => (domain.to_string(), rest.to_vec()),
            _ => return error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint".into()),
        };
        let Some(held) = account.domains.get_mut(&domain) else {
            return error(StatusCode::NOT_FOUND, "NOT_FOUND", format!("Domain {domain} not found"));
        };
        match (&asked.method, rest.as_slice()) {
            (&Method::GET, []) => answer(
                StatusCode::OK,
                &json!({"domain": domain, "domainId": 1000, "status": "ACTIVE", "nameServers": held.nameservers}),
                &[],
            ),
            (&Method::PATCH, []) => {
                let Some(nameservers) = asked.json().and_then(|b| b.get("nameServers").cloned()) else {
                    return error(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BODY", "body".into());
                };
                let names: Vec<String> = serde_json::from_value(nameservers).unwrap_or_default();
                if names.is_empty() || !names.iter().all(|n| is_hostname(n)) {
                    return error(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BODY", "nameServers".into());
                }
                held.nameservers = names;
                answer(StatusCode::NO_CONTENT, &json!(null), &[])
            }
            (&Method::PUT, ["records", kind, name]) => {
                let entries: Vec<Value> = asked
                    .json()
                    .and_then(|b| b.as_array().cloned())
                    .unwrap_or_default();
                let mut replacement = Vec::new();
                for entry in &entries {
                    let ttl = entry["ttl"].as_u64().unwrap_or(0);
                    let data = entry["data"].as_str().unwrap_or("");
                    if data.is_empty() || !(600..=604_800).contains(&ttl) {
                        return error(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BODY", "records".into());
                    }
                    let priority = entry["priority"].as_u64().and_then(|p| u16::try_from(p).ok());
                    replacement.push((kind.to_string(), name.to_string(), data.to_owned(), u32::try_from(ttl).unwrap_or(u32::MAX), priority));
                }
                if replacement.is_empty() {
                    return error(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BODY", "records".into());
                }
                held.records.retain(|(k, n, ..)| !(k == kind && n == name));
                held.records.extend(replacement);
                answer(StatusCode::OK, &json!(null), &[])
            }
            _ => error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint".into()),
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------
// Cloudflare API v4: `Authorization: Bearer {token}`; every answer is the envelope
// `{"success","errors":[{"code","message"}],"messages","result"}`; 1200 requests per five
// minutes, then 429 (code 971) with `Retry-After`.

pub async fn cloudflare(token: &str) -> FakeRegistrar {
    let expected = format!("Bearer {token}");
    let next_id = Arc::new(Mutex::new(0u64));
    FakeRegistrar::start(move |account, asked| {
        let failure = |status: StatusCode, code: u32, message: String, headers: &[(&'static str, String)]| {
            answer(
                status,
                &json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null}),
                headers,
            )
        };
        let success = |result: Value| {
            answer(StatusCode::OK, &json!({"success": true, "errors": [], "messages": [], "result": result}), &[])
        };
        if account.down {
            return failure(StatusCode::BAD_GATEWAY, 10001, "service unavailable".into(), &[]);
        }
        if over_budget(account) {
            return failure(
                StatusCode::TOO_MANY_REQUESTS,
                971,
                "Please wait and consider throttling your request speed".into(),
                &[("retry-after", "42".to_owned())],
            );
        }
        let authorization = asked.header("authorization").to_owned();
        if !authorization.starts_with("Bearer ") {
            return failure(StatusCode::BAD_REQUEST, 6003, format!("Invalid request headers: {authorization:?}"), &[]);
        }
        if authorization != expected {
            return if asked.path == "/user/tokens/verify" {
                failure(StatusCode::UNAUTHORIZED, 1000, format!("Invalid API Token {authorization}"), &[])
            } else {
                failure(StatusCode::FORBIDDEN, 10000, format!("Authentication error for {authorization}"), &[])
            };
        }
        let zone_id = |domain: &str| format!("zone-{}", domain.replace('.', "-"));
        let segments: Vec<&str> = asked.path.trim_start_matches('/').split('/').collect();
        match (&asked.method, segments.as_slice()) {
            (&Method::GET, ["user", "tokens", "verify"]) => {
                success(json!({"id": "token-id", "status": "active"}))
            }
            (&Method::GET, ["zones"]) => {
                let name = asked.query.get("name").cloned().unwrap_or_default();
                let zones: Vec<Value> = account
                    .domains
                    .iter()
                    .filter(|(domain, _)| name.is_empty() || **domain == name)
                    .map(|(domain, held)| json!({"id": zone_id(domain), "name": domain, "status": "active", "name_servers": held.nameservers}))
                    .collect();
                success(Value::Array(zones))
            }
            (method, ["zones", id, "dns_records", rest @ ..]) => {
                let Some((domain, held)) = account.domains.iter_mut().find(|(d, _)| zone_id(d) == *id) else {
                    return failure(StatusCode::NOT_FOUND, 7003, "Could not route to /zones, perhaps your object identifier is invalid?".into(), &[]);
                };
                let absolute = |name: &str| if name == "@" { domain.clone() } else { format!("{name}.{domain}") };
                let listed = |held: &FakeDomain| -> Vec<Value> {
                    held.records
                        .iter()
                        .enumerate()
                        .map(|(i, (kind, name, content, ttl, priority))| json!({"id": format!("rec-{i}"), "type": kind, "name": absolute(name), "content": content, "ttl": ttl, "priority": priority}))
                        .collect()
                };
                match (method, rest) {
                    (&Method::GET, []) => {
                        let kind = asked.query.get("type");
                        let name = asked.query.get("name");
                        let found: Vec<Value> = listed(held)
                            .into_iter()
                            .filter(|r| kind.is_none_or(|k| r["type"] == k.as_str()))
                            .filter(|r| name.is_none_or(|n| r["name"] == n.as_str()))
                            .collect();
                        success(Value::Array(found))
                    }
                    (&Method::POST | &Method::PUT, _) => {
                        let Some(body) = asked.json() else {
                            return failure(StatusCode::BAD_REQUEST, 9207, "Request body is invalid".into(), &[]);
                        };
                        let kind = body["type"].as_str().unwrap_or("").to_owned();
                        let name = body["name"].as_str().unwrap_or("").to_owned();
                        let content = body["content"].as_str().unwrap_or("").to_owned();
                        let ttl = body["ttl"].as_u64().and_then(|t| u32::try_from(t).ok()).unwrap_or(0);
                        let priority = body["priority"].as_u64().and_then(|p| u16::try_from(p).ok());
                        let relative = if name == *domain { "@".to_owned() } else { name.strip_suffix(&format!(".{domain}")).unwrap_or(&name).to_owned() };
                        let valid_content = match kind.as_str() {
                            "A" => content.parse::<std::net::Ipv4Addr>().is_ok(),
                            "AAAA" => content.parse::<std::net::Ipv6Addr>().is_ok(),
                            "CNAME" | "MX" => is_hostname(&content),
                            "TXT" => !content.is_empty(),
                            _ => false,
                        };
                        if !valid_content || !(ttl == 1 || (60..=86_400).contains(&ttl)) {
                            return failure(StatusCode::BAD_REQUEST, 9005, "Content for record is invalid".into(), &[]);
                        }
                        let record = (kind, relative, content, ttl, priority);
                        match rest {
                            [] => {
                                if held.records.contains(&record) {
                                    return failure(StatusCode::BAD_REQUEST, 81057, "Record already exists.".into(), &[]);
                                }
                                held.records.push(record);
                            }
                            [record_id] => {
                                let index = record_id.strip_prefix("rec-").and_then(|i| i.parse::<usize>().ok());
                                let Some(slot) = index.and_then(|i| held.records.get_mut(i)) else {
                                    return failure(StatusCode::NOT_FOUND, 81044, "Record does not exist.".into(), &[]);
                                };
                                *slot = record;
                            }
                            _ => return failure(StatusCode::NOT_FOUND, 7000, "No route for that URI".into(), &[]),
                        }
                        *next_id.lock().unwrap() += 1;
                        success(json!({"id": "created"}))
                    }
                    _ => failure(StatusCode::METHOD_NOT_ALLOWED, 10405, "Method not allowed".into(), &[]),
                }
            }
            _ => failure(StatusCode::NOT_FOUND, 7000, "No route for that URI".into(), &[]),
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------
// Namecheap XML API: the global parameters ApiUser, ApiKey, UserName, ClientIp and Command in
// the query or a form body; `<ApiResponse Status="OK|ERROR">` at HTTP 200 with
// `<Errors><Error Number>`. Namecheap documents its limits (per minute, hour and day) but not
// the refusal's shape; this fake answers an error whose text says "Too many requests".

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn namecheap_answer(command: &str, status: &str, inner: &str) -> Answer {
    let errors = if status == "OK" {
        "<Errors />".to_owned()
    } else {
        inner.to_owned()
    };
    let body = if status == "OK" { inner } else { "" };
    let xml = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><ApiResponse Status="{status}" xmlns="http://api.namecheap.com/xml.response">{errors}<RequestedCommand>{command}</RequestedCommand><CommandResponse Type="{command}">{body}</CommandResponse><Server>FAKE</Server><ExecutionTime>0.01</ExecutionTime></ApiResponse>"#
    );
    let mut response = Response::new(Full::new(Bytes::from(xml)));
    response
        .headers_mut()
        .insert("content-type", "text/xml".parse().unwrap());
    response
}

pub async fn namecheap(user: &str, key: &str, client_ip: &str) -> FakeRegistrar {
    let (user, key, client_ip) = (user.to_owned(), key.to_owned(), client_ip.to_owned());
    FakeRegistrar::start(move |account, asked| {
        let mut params: BTreeMap<String, String> = asked.query.clone();
        params.extend(form_urlencoded::parse(&asked.body).into_owned());
        let command = params.get("Command").cloned().unwrap_or_default();
        let error = |number: &str, text: String| {
            namecheap_answer(
                &command,
                "ERROR",
                &format!(r#"<Errors><Error Number="{number}">{}</Error></Errors>"#, xml_escape(&text)),
            )
        };
        if account.down {
            let mut response = Response::new(Full::new(Bytes::from("Service Unavailable")));
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            return response;
        }
        if over_budget(account) {
            return error("500000", "Too many requests".to_owned());
        }
        let given = |name: &str| params.get(name).cloned().unwrap_or_default();
        if given("ApiUser") != user || given("UserName") != user {
            return error("1016103", format!("Parameter UserName is unauthorized: {}", given("ApiUser")));
        }
        if given("ApiKey") != key {
            return error("1011102", format!("Parameter APIKey is invalid: {}", given("ApiKey")));
        }
        if given("ClientIp") != client_ip {
            return error("1011150", format!("Parameter RequestIP is invalid: {}", given("ClientIp")));
        }
        let domain = format!("{}.{}", given("SLD"), given("TLD"));
        let Some(held) = account.domains.get_mut(&domain) else {
            return error("2019166", format!("Domain not found: {domain}"));
        };
        match command.as_str() {
            "namecheap.domains.dns.getList" => {
                let servers: String = held.nameservers.iter().map(|ns| format!("<Nameserver>{ns}</Nameserver>")).collect();
                namecheap_answer(&command, "OK", &format!(r#"<DomainDNSGetListResult Domain="{domain}" IsUsingOurDNS="false">{servers}</DomainDNSGetListResult>"#))
            }
            "namecheap.domains.dns.setCustom" => {
                let names: Vec<String> = given("NameServers").split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect();
                if names.len() < 2 || !names.iter().all(|n| is_hostname(n)) {
                    // Namecheap wants at least two name servers.
                    return error("2011146", "Invalid nameservers".to_owned());
                }
                held.nameservers = names;
                namecheap_answer(&command, "OK", &format!(r#"<DomainDNSSetCustomResult Domain="{domain}" Updated="true" />"#))
            }
            "namecheap.domains.dns.getHosts" => {
                let hosts: String = held.records.iter().enumerate().map(|(i, (kind, name, value, ttl, priority))| {
                    format!(r#"<host HostId="{i}" Name="{}" Type="{kind}" Address="{}" MXPref="{}" TTL="{ttl}" />"#, xml_escape(name), xml_escape(value), priority.unwrap_or(10))
                }).collect();
                namecheap_answer(&command, "OK", &format!(r#"<DomainDNSGetHostsResult Domain="{domain}" IsUsingOurDNS="true">{hosts}</DomainDNSGetHostsResult>"#))
            }
            "namecheap.domains.dns.setHosts" => {
                let mut records = Vec::new();
                for n in 1.. {
                    let Some(name) = params.get(&format!("HostName{n}")) else { break };
                    let kind = given(&format!("RecordType{n}"));
                    let address = given(&format!("Address{n}"));
                    let ttl: u32 = given(&format!("TTL{n}")).parse().unwrap_or(1800);
                    if address.is_empty() || !["A", "AAAA", "CNAME", "MX", "TXT"].contains(&kind.as_str()) || !(60..=60_000).contains(&ttl) {
                        return error("2050900", format!("Invalid host record {n}"));
                    }
                    let priority = (kind == "MX").then(|| given(&format!("MXPref{n}")).parse().unwrap_or(10));
                    records.push((kind, name.clone(), address, ttl, priority));
                }
                // setHosts replaces every host record of the domain.
                held.records = records;
                namecheap_answer(&command, "OK", &format!(r#"<DomainDNSSetHostsResult Domain="{domain}" IsSuccess="true" />"#))
            }
            _ => error("1010104", "Parameter Command is missing or unknown".to_owned()),
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------
// OVHcloud API v1: `GET /auth/time`, then every call signed with X-Ovh-Application,
// X-Ovh-Consumer, X-Ovh-Timestamp and X-Ovh-Signature = "$1$" + SHA-1 hex of
// "secret+consumer+METHOD+url+body+timestamp"; errors {"errorCode","httpCode","message"}
// or {"class","message"}; 429 with Retry-After.

pub async fn ovh(application: &str, secret: &str, consumer: &str) -> FakeRegistrar {
    use sha1::Digest;
    let (application, secret, consumer) = (
        application.to_owned(),
        secret.to_owned(),
        consumer.to_owned(),
    );
    FakeRegistrar::start(move |account, asked| {
        let refuse = |status: StatusCode, code: &str, message: String| {
            answer(status, &json!({"errorCode": code, "httpCode": status.to_string(), "message": message}), &[])
        };
        if account.down {
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", "maintenance".into());
        }
        let path = asked.path.strip_prefix("/1.0").unwrap_or(&asked.path).to_owned();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        if asked.method == Method::GET && path == "/auth/time" {
            let mut response = Response::new(Full::new(Bytes::from(now.to_string())));
            response.headers_mut().insert("content-type", "application/json".parse().unwrap());
            return response;
        }
        if over_budget(account) {
            return answer(StatusCode::TOO_MANY_REQUESTS, &json!({"message": "Too many requests"}), &[("retry-after", "17".to_owned())]);
        }
        let given_application = asked.header("x-ovh-application").to_owned();
        let given_consumer = asked.header("x-ovh-consumer").to_owned();
        if given_application != application {
            return refuse(StatusCode::FORBIDDEN, "INVALID_KEY", format!("This application key is invalid: {given_application}"));
        }
        if given_consumer != consumer {
            return refuse(StatusCode::FORBIDDEN, "INVALID_CREDENTIAL", format!("This credential is not valid: {given_consumer}"));
        }
        let timestamp = asked.header("x-ovh-timestamp").to_owned();
        let fresh = timestamp.parse::<u64>().is_ok_and(|t| t.abs_diff(now) <= 30);
        let url = format!(
            "http://{}{}{}",
            asked.header("host"),
            asked.path,
            asked.raw_query.as_ref().map(|q| format!("?{q}")).unwrap_or_default()
        );
        let body = String::from_utf8_lossy(&asked.body);
        let signed = format!("{secret}+{consumer}+{}+{url}+{body}+{timestamp}", asked.method);
        let expected: String = sha1::Sha1::digest(signed.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        if !fresh || asked.header("x-ovh-signature") != format!("$1${expected}") {
            return refuse(StatusCode::BAD_REQUEST, "INVALID_SIGNATURE", "Invalid signature".into());
        }
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let not_found = || answer(StatusCode::NOT_FOUND, &json!({"class": "Client::NotFound", "message": "This service does not exist"}), &[]);
        let (zone_api, domain) = match segments.as_slice() {
            ["domain", "zone", zone, ..] => (true, zone.to_string()),
            ["domain", domain, ..] => (false, domain.to_string()),
            _ => return not_found(),
        };
        let Some(held) = account.domains.get_mut(&domain) else { return not_found() };
        let rest: Vec<&str> = segments[if zone_api { 3 } else { 2 }..].to_vec();
        match (zone_api, &asked.method, rest.as_slice()) {
            (false, &Method::GET, []) => answer(StatusCode::OK, &json!({"domain": domain, "nameServerType": "external", "transferLockStatus": "locked"}), &[]),
            (false, &Method::GET, ["nameServer"]) => answer(StatusCode::OK, &json!((0..held.nameservers.len()).collect::<Vec<_>>()), &[]),
            (false, &Method::GET, ["nameServer", id]) => match id.parse::<usize>().ok().and_then(|i| held.nameservers.get(i)) {
                Some(host) => answer(StatusCode::OK, &json!({"id": id.parse::<u64>().unwrap_or(0), "host": host, "ip": null, "isUsed": true, "toDelete": false}), &[]),
                None => not_found(),
            },
            (false, &Method::POST, ["nameServers", "update"]) => {
                let hosts: Vec<String> = asked.json().and_then(|b| b["nameServers"].as_array().cloned()).unwrap_or_default()
                    .iter().filter_map(|s| s["host"].as_str().map(str::to_owned)).collect();
                if hosts.is_empty() || !hosts.iter().all(|h| is_hostname(h)) {
                    return answer(StatusCode::BAD_REQUEST, &json!({"class": "Client::BadRequest", "message": "Invalid name servers"}), &[]);
                }
                held.nameservers = hosts;
                answer(StatusCode::OK, &json!({"id": 1, "function": "DomainDnsUpdate", "status": "todo"}), &[])
            }
            (true, &Method::GET, ["record"]) => {
                let kind = asked.query.get("fieldType").cloned().unwrap_or_default();
                let sub = asked.query.get("subDomain").cloned().unwrap_or_default();
                let name = if sub.is_empty() { "@".to_owned() } else { sub };
                let ids: Vec<usize> = held.records.iter().enumerate().filter(|(_, r)| r.0 == kind && r.1 == name).map(|(i, _)| i).collect();
                answer(StatusCode::OK, &json!(ids), &[])
            }
            (true, &Method::DELETE, ["record", id]) => {
                let Some(index) = id.parse::<usize>().ok().filter(|i| *i < held.records.len()) else { return not_found() };
                // Keep ids stable while a caller walks a list: blank the slot, drop blanks later.
                held.records[index].0 = String::new();
                answer(StatusCode::OK, &json!(null), &[])
            }
            (true, &Method::POST, ["record"]) => {
                let body = asked.json().unwrap_or_default();
                let kind = body["fieldType"].as_str().unwrap_or("").to_owned();
                let sub = body["subDomain"].as_str().unwrap_or("").to_owned();
                let target = body["target"].as_str().unwrap_or("").to_owned();
                let ttl = body["ttl"].as_u64().and_then(|t| u32::try_from(t).ok()).unwrap_or(0);
                if target.is_empty() || !["A", "AAAA", "CNAME", "MX", "TXT"].contains(&kind.as_str()) {
                    return answer(StatusCode::BAD_REQUEST, &json!({"class": "Client::BadRequest", "message": "Invalid record"}), &[]);
                }
                let (priority, value) = match (kind.as_str(), target.split_once(' ')) {
                    ("MX", Some((p, host))) => (p.parse().ok(), host.to_owned()),
                    _ => (None, target),
                };
                let name = if sub.is_empty() { "@".to_owned() } else { sub };
                held.records.push((kind, name, value, ttl, priority));
                answer(StatusCode::OK, &json!({"id": held.records.len() - 1}), &[])
            }
            (true, &Method::POST, ["refresh"]) => {
                held.records.retain(|r| !r.0.is_empty());
                answer(StatusCode::OK, &json!(null), &[])
            }
            _ => not_found(),
        }
    })
    .await
}
