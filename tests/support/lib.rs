//! Test support: a PDM over a real (per-test) PostgreSQL database, driven in-process through
//! its tower service exactly as hyper or Lambda would drive it, and a fake Dynadot.

pub mod fake_dynadot;
pub mod fake_lambda;
pub mod fake_registrars;
pub mod moto;
pub mod powerdns;
pub mod served;

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use pdm_core::dns::RetryPolicy;
use pdm_core::dns::dynadot::Dynadot;
use pdm_core::dns::{DnsProvider, InMemory};
use pdm_core::http::Endpoint;
use pdm_core::{Config, Ctx};
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt;

pub const POOL: &str = "omani.works";
/// A globally routable address: PDM refuses to publish documentation ranges such as 203.0.113.0/24.
pub const LB_IP: &str = "94.130.0.10";
/// The sovereign's isolated console gateway, where `console` and `api` point when given.
pub const CONSOLE_IP: &str = "94.130.0.20";
/// The Dynadot key of the tests: recognizable, so a test can prove it never leaks.
pub const DYNADOT_KEY: &str = "dynadot-test-key-5e3c1f";

/// A configuration as the environment would give it, with `overrides` on top of the defaults.
pub fn config(overrides: &[(&str, &str)]) -> Config {
    // Tests drive bursts from one address; the limits have tests of their own.
    let vars: HashMap<String, String> = [("PDM_RATE_LIMITS", "off")]
        .iter()
        .chain(overrides)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|name| vars.get(name).cloned()).expect("test configuration")
}

/// An answer: status, headers and the JSON body (`Value::Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The body's `error` code, for error replies.
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }

    /// Asserts the reply is the error `code` with `status`.
    #[track_caller]
    pub fn assert_refused(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{:?}", self.body);
        assert_eq!(self.error(), code, "{:?}", self.body);
    }
}

/// PDM in-process over a PostgreSQL where nothing listens: every query fails at once.
pub fn with_the_database_down() -> Endpoint {
    let config = config(&[("PDM_DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")]);
    let unreachable = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy(config.postgres_url().unwrap())
        .unwrap();
    Endpoint::router(Ctx::with_pool(
        &config,
        &unreachable,
        Arc::new(pdm_core::dns::LogOnly),
    ))
}

use served::Deployment;
pub use served::Serving;

pub struct TestApp {
    pub ctx: Arc<Ctx>,
    pub endpoint: Endpoint,
    /// Processes serving PDM when the test reaches it over TCP; in-process otherwise.
    deployment: Option<Deployment>,
    client: reqwest::Client,
    /// The in-memory provider, when the app writes DNS there.
    pub memory_dns: Option<Arc<InMemory>>,
    pub db: PgPool,
}

impl TestApp {
    /// Default configuration, DNS in memory.
    pub fn new(db: PgPool) -> Self {
        Self::with_config(db, &config(&[]))
    }

    pub fn with_config(db: PgPool, config: &Config) -> Self {
        let memory = Arc::new(InMemory::default());
        Self {
            memory_dns: Some(memory.clone()),
            ..Self::with_provider(db, config, memory)
        }
    }

    /// DNS at the fake Dynadot at `url`, retrying passing failures quickly.
    pub fn with_dynadot(db: PgPool, url: &str, overrides: &[(&str, &str)]) -> Self {
        Self::with_dynadot_key(db, url, DYNADOT_KEY, overrides)
    }

    pub fn with_dynadot_key(db: PgPool, url: &str, key: &str, overrides: &[(&str, &str)]) -> Self {
        let dynadot = Dynadot::new(
            url,
            key.into(),
            Duration::from_secs(5),
            RetryPolicy {
                attempts: 4,
                min_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(40),
            },
        )
        .unwrap();
        Self::with_provider(db, &config(overrides), Arc::new(dynadot))
    }

    pub fn with_provider(db: PgPool, config: &Config, dns: Arc<dyn DnsProvider>) -> Self {
        let ctx = Ctx::with_pool(config, &db, dns);
        Self::with_ctx(db, ctx)
    }

    /// Served in-process by `ctx`.
    fn with_ctx(db: PgPool, ctx: Arc<Ctx>) -> Self {
        Self {
            endpoint: Endpoint::router(ctx.clone()),
            ctx,
            deployment: None,
            client: reqwest::Client::new(),
            memory_dns: None,
            db,
        }
    }

    /// DNS in memory, and `resolver` asked whether a sovereign still answers.
    pub fn with_resolver(db: PgPool, resolver: Arc<dyn pdm_core::resolver::Resolver>) -> Self {
        let config = config(&[]);
        let memory = Arc::new(InMemory::default());
        let store = Arc::new(pdm_core::store::postgres::PgStore::like(&db));
        let pdm = pdm_core::Pdm::new(store, memory.clone(), &config).with_resolver(resolver);
        Self {
            memory_dns: Some(memory),
            ..Self::with_ctx(db, Ctx::around(&config, pdm))
        }
    }

    /// PDM served as `serving` says, configured by `overrides` on top of the defaults. Over
    /// TCP the processes write DNS nowhere (log-only): tests of DNS effects run in-process.
    pub async fn served(db: PgPool, serving: Serving, overrides: &[(&str, &str)]) -> Self {
        let config = config(overrides);
        if serving == Serving::InProcess {
            return Self::with_config(db, &config);
        }
        let mut env: Vec<(String, String)> = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.push(("PDM_DATABASE_URL".to_owned(), served::database_url(&db)));
        Self {
            deployment: Some(Deployment::start(serving, &env).await),
            ..Self::with_provider(db, &config, Arc::new(pdm_core::dns::LogOnly))
        }
    }

    /// The same app answering through `endpoint` (e.g. a single-route one) instead.
    pub fn with_endpoint(self, endpoint: Endpoint) -> Self {
        Self { endpoint, ..self }
    }

    /// The in-memory provider's records.
    pub fn dns(&self) -> &InMemory {
        self.memory_dns
            .as_deref()
            .expect("this app writes DNS in memory")
    }

    /// Sends a prepared request, in-process or over TCP to whichever process serves it.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Reply {
        if let Some(deployment) = &self.deployment {
            return self.send_over_tcp(deployment, request).await;
        }
        send_in_process(&self.endpoint, request).await
    }

    async fn send_over_tcp(&self, deployment: &Deployment, request: Request<Full<Bytes>>) -> Reply {
        let (parts, body) = request.into_parts();
        let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let url = format!(
            "{}{path_and_query}",
            deployment.base_for(&parts.method, parts.uri.path())
        );
        let body = body.collect().await.unwrap().to_bytes();
        let response = self
            .client
            .request(parts.method, url)
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .expect("the process answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        Reply {
            status,
            headers,
            body: parse_body(&bytes),
        }
    }

    /// `method uri` with an optional JSON body.
    pub async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> Reply {
        self.send(request(method, uri, body)).await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.call(Method::GET, uri, None).await
    }

    pub async fn check(&self, sub: &str) -> Reply {
        self.get(&format!("/api/v1/pool/{POOL}/check?sub={sub}"))
            .await
    }

    /// The same, for a name the caller made (so many can be asked at once).
    pub async fn check_owned(&self, sub: String) -> Reply {
        self.check(&sub).await
    }

    pub async fn reserve(&self, sub: &str) -> Reply {
        self.call(
            Method::POST,
            &format!("/api/v1/pool/{POOL}/reserve"),
            Some(json!({"subdomain": sub, "createdBy": "tests"})),
        )
        .await
    }

    /// Reserves `sub` and returns its reservation token.
    pub async fn reserve_token(&self, sub: &str) -> String {
        let reply = self.reserve(sub).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "reserve {sub}: {:?}",
            reply.body
        );
        reply.body["reservationToken"].as_str().unwrap().to_owned()
    }

    pub async fn commit(&self, sub: &str, token: &str, ip: &str) -> Reply {
        self.call(
            Method::POST,
            &format!("/api/v1/pool/{POOL}/commit"),
            Some(json!({
                "subdomain": sub,
                "reservationToken": token,
                "sovereignFQDN": format!("{sub}.{POOL}"),
                "loadBalancerIP": ip,
            })),
        )
        .await
    }

    /// Reserves and commits `sub` with an isolated console gateway at [`CONSOLE_IP`],
    /// asserting both succeed.
    pub async fn allocate_with_console(&self, sub: &str) -> Reply {
        let token = self.reserve_token(sub).await;
        let body = json!({
            "subdomain": sub,
            "reservationToken": token,
            "loadBalancerIP": LB_IP,
            "consoleLoadBalancerIP": CONSOLE_IP,
        });
        let uri = format!("/api/v1/pool/{POOL}/commit");
        let reply = self.call(Method::POST, &uri, Some(body)).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "commit {sub}: {:?}",
            reply.body
        );
        assert_eq!(reply.body["consoleLoadBalancerIP"], CONSOLE_IP);
        reply
    }

    /// Reserves and commits `sub`, asserting both succeed.
    pub async fn allocate(&self, sub: &str) -> Reply {
        let token = self.reserve_token(sub).await;
        let reply = self.commit(sub, &token, LB_IP).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "commit {sub}: {:?}",
            reply.body
        );
        reply
    }

    pub async fn release(&self, sub: &str) -> Reply {
        self.call(
            Method::DELETE,
            &format!("/api/v1/pool/{POOL}/release"),
            Some(json!({"subdomain": sub})),
        )
        .await
    }

    /// Moves the reservation's deadline into the past, as if its TTL had run out.
    pub async fn lapse(&self, sub: &str) {
        let lapsed = sqlx::query(
            "update pool_allocations set expires_at = now() - interval '1 second'
             where pool_domain = $1 and subdomain = $2 and state = 'reserved'",
        )
        .bind(POOL)
        .bind(sub)
        .execute(&self.db)
        .await
        .unwrap()
        .rows_affected();
        assert_eq!(lapsed, 1, "{sub} has no reservation to lapse");
    }

    /// The service behind the endpoint, for operations HTTP does not expose (the sweeper).
    pub fn pdm(&self) -> &pdm_core::Pdm {
        &self.ctx.pdm
    }

    /// Makes every owed DNS change due now, as if its retry delay had passed.
    pub async fn make_pending_due(&self) {
        sqlx::query("update pool_allocations set dns_retry_at = now() where dns_state = 'pending'")
            .execute(&self.db)
            .await
            .unwrap();
    }

    /// Runs the reconciler until nothing is owed; returns how many runs it took.
    pub async fn converge(&self) -> usize {
        for run in 1..=50 {
            self.make_pending_due().await;
            self.pdm().maintain().await.unwrap();
            if self.pdm().store().pending_count().await.unwrap() == 0 {
                return run;
            }
        }
        panic!("DNS did not converge in 50 reconciler runs");
    }

    pub async fn row_count(&self) -> i64 {
        row_count(&self.db).await
    }
}

/// Two connection pools on one database, as two replicas would have.
pub async fn two_pools(
    options: sqlx::postgres::PgPoolOptions,
    connect: sqlx::postgres::PgConnectOptions,
) -> [PgPool; 2] {
    let pool = || {
        options
            .clone()
            .max_connections(10)
            .connect_with(connect.clone())
    };
    [pool().await.unwrap(), pool().await.unwrap()]
}

/// How many sessions of this test's database wait for an advisory lock (`pg_locks` spans
/// the server, which parallel tests share).
pub async fn lock_waiters(db: &PgPool) -> i64 {
    sqlx::query_scalar(
        "select count(*) from pg_locks
         where locktype = 'advisory' and not granted
           and database = (select oid from pg_database where datname = current_database())",
    )
    .fetch_one(db)
    .await
    .unwrap()
}

/// How many rows `pool_allocations` holds.
pub async fn row_count(db: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from pool_allocations")
        .fetch_one(db)
        .await
        .unwrap()
}

/// Inserts `count` reservations of `POOL` named `{prefix}{n}` (n from 1), lapsed a minute ago
/// or live for ten more.
pub async fn seed_reservations(db: &PgPool, prefix: &str, count: i64, lapsed: bool) {
    let expires = if lapsed {
        "now() - interval '1 minute'"
    } else {
        "now() + interval '10 minutes'"
    };
    sqlx::query(&format!(
        "insert into pool_allocations
             (pool_domain, subdomain, state, expires_at, reservation_token, created_by)
         select $1, $2 || n, 'reserved', {expires}, gen_random_uuid(), 'seed'
         from generate_series(1, $3) as n"
    ))
    .bind(POOL)
    .bind(prefix)
    .bind(count)
    .execute(db)
    .await
    .unwrap();
}

/// A JSON body, `Value::Null` when empty, a JSON string when the body is text.
/// Sends `request` through `endpoint` as hyper or Lambda would.
pub async fn send_in_process(endpoint: &Endpoint, request: Request<Full<Bytes>>) -> Reply {
    let response = endpoint
        .clone()
        .oneshot(request)
        .await
        .expect("the endpoint is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: parse_body(&bytes),
    }
}

fn parse_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    // Only /metrics answers text; everything else must be JSON, which its tests check.
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// Everything logged on this thread while installed, at every level, as text.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Captures until the guard drops. Tests run on a current-thread runtime, so every task
    /// of the test logs here.
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Plain-text answers (the metrics exposition), straight from an endpoint.
pub trait TextRequest {
    /// `GET path`: status, content type and body.
    fn oneshot_text(
        self,
        path: &str,
    ) -> impl std::future::Future<Output = (StatusCode, String, String)>;
}

impl TextRequest for Endpoint {
    async fn oneshot_text(self, path: &str) -> (StatusCode, String, String) {
        let response = self
            .oneshot(request(Method::GET, path, None))
            .await
            .expect("the endpoint is infallible");
        let status = response.status();
        let content_type = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }
}

/// A request with a raw body and the given headers, for malformed or unusual requests.
/// A managed pool domain by name.
pub fn pool_domain(name: &str) -> pdm_core::domain::PoolDomain {
    pdm_core::domain::ManagedDomains::parse(name)
        .and_then(|domains| domains.resolve(name).map_err(|e| e.to_string()))
        .expect("a pool domain")
}

pub fn raw_request(
    method: Method,
    uri: &str,
    body: &str,
    headers: &[(header::HeaderName, &str)],
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(name, *value);
    }
    builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("valid request")
}

/// A request with a JSON body (and its content type) when `body` is given.
pub fn request(method: Method, uri: &str, body: Option<Value>) -> Request<Full<Bytes>> {
    let builder = Request::builder().method(method).uri(uri);
    match body {
        Some(body) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string()))),
        None => builder.body(Full::new(Bytes::new())),
    }
    .expect("valid request")
}
