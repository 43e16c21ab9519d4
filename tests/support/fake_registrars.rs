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

fn answer(status: StatusCode, body: &Value, headers: &[(&'static str, String)]) -> Answer {
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
async fn serve<F>(respond: F) -> (String, Shutdown)
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
