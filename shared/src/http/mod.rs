//! The contract over HTTP as a plain `tower::Service`: no framework, so the same value runs
//! under hyper, under Lambda and in-process tests. An [`Endpoint`] serves every route (the
//! combined server) or just one (a function).

mod response;
pub mod wire;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tracing::Instrument;
use uuid::Uuid;

pub use response::HttpResponse;
use wire::{
    AllocationBody, CheckResponse, CommitRequest, EventBody, HealthResponse, HistoryResponse,
    ListResponse, ReleaseRequest, ReleaseResponse, ReserveRequest, ReservedResponse, Status,
};

use crate::domain::{PoolDomain, RESERVED_LABELS, Subdomain};
use crate::service::{self, DnsSync};
use crate::store::Actor;
use crate::{Ctx, Error};

/// Honoured when the caller sends one, generated otherwise, returned either way.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request bodies are a few hundred bytes; anything near this is not a PDM client.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
const MAX_CREATED_BY_CHARS: usize = 256;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every route of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Health,
    Livez,
    Readyz,
    Reserved,
    Check,
    Reserve,
    Commit,
    Release,
    List,
    History,
    Metrics,
}

impl Route {
    pub const ALL: [Self; 11] = [
        Self::Health,
        Self::Livez,
        Self::Readyz,
        Self::Reserved,
        Self::Check,
        Self::Reserve,
        Self::Commit,
        Self::Release,
        Self::List,
        Self::History,
        Self::Metrics,
    ];

    pub fn method(self) -> Method {
        match self {
            Self::Reserve | Self::Commit => Method::POST,
            Self::Release => Method::DELETE,
            Self::Health
            | Self::Livez
            | Self::Readyz
            | Self::Reserved
            | Self::Check
            | Self::List
            | Self::History
            | Self::Metrics => Method::GET,
        }
    }

    /// The path as the contract (and openapi.yaml) writes it.
    pub fn path_template(self) -> &'static str {
        match self {
            Self::Health => "/healthz",
            Self::Livez => "/livez",
            Self::Readyz => "/readyz",
            Self::Reserved => "/api/v1/reserved",
            Self::Check => "/api/v1/pool/{domain}/check",
            Self::Reserve => "/api/v1/pool/{domain}/reserve",
            Self::Commit => "/api/v1/pool/{domain}/commit",
            Self::Release => "/api/v1/pool/{domain}/release",
            Self::List => "/api/v1/pool/{domain}/list",
            Self::History => "/api/v1/pool/{domain}/history",
            Self::Metrics => "/metrics",
        }
    }

    /// Routes that change or reveal allocations need a bearer token when tokens are set.
    fn needs_token(self) -> bool {
        matches!(
            self,
            Self::Reserve | Self::Commit | Self::Release | Self::List | Self::History
        )
    }

    /// The route for `path` and the `{domain}` it names, if any. A trailing slash is ignored.
    pub fn resolve(path: &str) -> Option<(Self, &str)> {
        let path = path.strip_suffix('/').unwrap_or(path);
        match path {
            "/healthz" => return Some((Self::Health, "")),
            "/livez" => return Some((Self::Livez, "")),
            "/readyz" => return Some((Self::Readyz, "")),
            "/metrics" => return Some((Self::Metrics, "")),
            "/api/v1/reserved" => return Some((Self::Reserved, "")),
            _ => {}
        }
        let (domain, action) = path.strip_prefix("/api/v1/pool/")?.split_once('/')?;
        let route = match action {
            "check" => Self::Check,
            "reserve" => Self::Reserve,
            "commit" => Self::Commit,
            "release" => Self::Release,
            "list" => Self::List,
            "history" => Self::History,
            _ => return None,
        };
        (!domain.is_empty()).then_some((route, domain))
    }
}

/// The probes, served together (by the combined server and by the health function).
pub const PROBES: [Route; 3] = [Route::Health, Route::Livez, Route::Readyz];

/// A tower service answering the contract's routes (all of them, or some).
#[derive(Clone)]
pub struct Endpoint {
    ctx: Arc<Ctx>,
    only: Option<&'static [Route]>,
    /// Requests being answered; when none is left, a request is refused, not queued.
    in_flight: Arc<Semaphore>,
}

impl Endpoint {
    /// Every route: the combined server.
    pub fn router(ctx: Arc<Ctx>) -> Self {
        let in_flight = Arc::new(Semaphore::new(ctx.limits.max_in_flight));
        Self {
            ctx,
            only: None,
            in_flight,
        }
    }

    /// Only `routes`: a function. Other paths answer 404.
    pub fn serving(ctx: Arc<Ctx>, routes: &'static [Route]) -> Self {
        Self {
            only: Some(routes),
            ..Self::router(ctx)
        }
    }
}

impl<B> tower::Service<Request<B>> for Endpoint
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = HttpResponse;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let endpoint = self.clone();
        Box::pin(async move { Ok(endpoint.handle(request).await) })
    }
}

impl Endpoint {
    async fn handle<B>(&self, request: Request<B>) -> HttpResponse
    where
        B: http_body::Body,
        B::Error: Into<BoxError>,
    {
        let started = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let id = request_id(&request);
        let span = tracing::info_span!("request", request_id = %id);
        let answered = async {
            // `/livez` must answer even when everything else is refused.
            let _permit = match self.in_flight.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) if path == Route::Livez.path_template() => None,
                Err(_) => return Err(Error::Overloaded),
            };
            let timeout = self.ctx.limits.request_timeout;
            tokio::time::timeout(timeout, self.dispatch(request, &id))
                .await
                .unwrap_or(Err(Error::Timeout(timeout)))
        };
        let (mut response, refusal) = match answered.instrument(span.clone()).await {
            Ok(response) => (response, None),
            Err(error) => (
                span.in_scope(|| response::error(&error)),
                Some(error.code()),
            ),
        };
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID, value);
        }
        let route = Route::resolve(&path).map_or("unmatched", |(route, _)| route.path_template());
        let took = started.elapsed();
        self.ctx.pdm.metrics().record_request(
            route,
            method.as_str(),
            response.status().as_u16(),
            took,
        );
        span.in_scope(|| {
            tracing::info!(
                %method, %path, status = response.status().as_u16(), error = refusal,
                elapsed_ms = took.as_secs_f64() * 1e3,
                "request"
            );
        });
        response
    }

    async fn dispatch<B>(
        &self,
        request: Request<B>,
        request_id: &str,
    ) -> Result<HttpResponse, Error>
    where
        B: http_body::Body,
        B::Error: Into<BoxError>,
    {
        let path = request.uri().path();
        let (route, raw_pool) = Route::resolve(path)
            // Every process exposes its own metrics.
            .filter(|(route, _)| {
                *route == Route::Metrics || self.only.is_none_or(|only| only.contains(route))
            })
            .ok_or_else(|| Error::NoRoute(format!("no route for {path}")))?;
        if request.method() != route.method() {
            return Err(Error::MethodNotAllowed(route.method()));
        }
        let caller = if route.needs_token() {
            self.authorize(&request)?
        } else {
            None
        };
        // The audit trail's actor: the bearer token's name, else what the caller says it is.
        let actor = |claimed: &str| Actor {
            name: caller
                .clone()
                .or_else(|| (!claimed.is_empty()).then(|| claimed.to_owned()))
                .unwrap_or_else(|| "anonymous".to_owned()),
            request_id: Some(request_id.to_owned()),
        };
        let raw_pool = raw_pool.to_owned();
        let pdm = &self.ctx.pdm;
        match route {
            Route::Health => Ok(self.health().await),
            Route::Livez => Ok(response::json(StatusCode::OK, &Status::ok())),
            Route::Readyz => Ok(match pdm.readiness().await {
                Ok(()) => response::json(StatusCode::OK, &Status::ok()),
                Err(detail) => response::json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &Status {
                        status: "unavailable",
                        detail: Some(detail),
                    },
                ),
            }),
            Route::Reserved => Ok(response::json(
                StatusCode::OK,
                &ReservedResponse {
                    reserved: &RESERVED_LABELS,
                },
            )),
            Route::Check => {
                let sub = query_param(&request, "sub").unwrap_or_default();
                let availability = pdm.check(&raw_pool, &sub).await?;
                let (reason, detail) = availability
                    .refusal
                    .as_ref()
                    .map(|(reason, detail)| (*reason, detail.as_str()))
                    .unzip();
                Ok(response::json(
                    StatusCode::OK,
                    &CheckResponse {
                        available: availability.refusal.is_none(),
                        reason,
                        detail,
                        fqdn: &availability.fqdn,
                    },
                ))
            }
            Route::Reserve => {
                let body: ReserveRequest = read_json(request).await?;
                if body.created_by.chars().count() > MAX_CREATED_BY_CHARS {
                    return Err(Error::InvalidFormat(format!(
                        "createdBy is longer than {MAX_CREATED_BY_CHARS} characters"
                    )));
                }
                let (pool, sub, _) = pdm.parse_reservable(&raw_pool, &body.subdomain)?;
                let reserved = pdm
                    .reserve(&pool, &sub, &body.created_by, &actor(&body.created_by))
                    .await?;
                Ok(response::json(
                    StatusCode::CREATED,
                    &AllocationBody::for_holder(&reserved),
                ))
            }
            Route::Commit => {
                let body: CommitRequest = read_json(request).await?;
                let (pool, sub) = self.parse_name(&raw_pool, &body.subdomain)?;
                let commit = pdm.parse_commit(
                    &pool.fqdn(&sub)?,
                    &body.reservation_token,
                    body.sovereign_fqdn.as_deref(),
                    body.load_balancer_ip.as_deref(),
                )?;
                let (allocation, sync) = pdm.commit(&pool, &sub, &commit, &actor("")).await?;
                Ok(response::json(
                    sync_status(sync),
                    &AllocationBody::public(&allocation),
                ))
            }
            Route::Release => {
                let (raw_sub, token) = release_request(request).await?;
                let (pool, sub) = self.parse_name(&raw_pool, &raw_sub)?;
                let (freed, sync) = pdm.release(&pool, &sub, token, &actor("")).await?;
                Ok(response::json(
                    sync_status(sync),
                    &ReleaseResponse { freed: &freed },
                ))
            }
            Route::Metrics => Ok(response::bytes_with_type(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                pdm.render_metrics().await?,
            )),
            Route::History => {
                let raw_sub = query_param(&request, "sub").unwrap_or_default();
                self.history(&raw_pool, &raw_sub).await
            }
            Route::List => {
                let pool = pdm.domains().resolve(&raw_pool)?;
                let limit = query_param(&request, "limit")
                    .map(|raw| {
                        raw.parse::<i64>().map_err(|_| {
                            Error::BadRequest(format!(
                                "limit must be a whole number from 1 to {}",
                                service::MAX_PAGE
                            ))
                        })
                    })
                    .transpose()?;
                let after = query_param(&request, "after");
                let page = pdm.list(&pool, after.as_deref(), limit).await?;
                Ok(response::json(
                    StatusCode::OK,
                    &ListResponse {
                        pool_domain: pool.as_str(),
                        allocations: page
                            .allocations
                            .iter()
                            .map(AllocationBody::public)
                            .collect(),
                        next: page.next.as_deref(),
                    },
                ))
            }
        }
    }

    async fn history(&self, raw_pool: &str, raw_sub: &str) -> Result<HttpResponse, Error> {
        let (pool, sub) = self.parse_name(raw_pool, raw_sub)?;
        let events = self.ctx.pdm.history(&pool, &sub).await?;
        Ok(response::json(
            StatusCode::OK,
            &HistoryResponse {
                pool_domain: pool.as_str(),
                subdomain: sub.as_str(),
                events: events.iter().map(EventBody::from).collect(),
            },
        ))
    }

    async fn health(&self) -> HttpResponse {
        let pdm = &self.ctx.pdm;
        let (status, word) = if pdm.healthy().await {
            (StatusCode::OK, "ok")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        };
        response::json(
            status,
            &HealthResponse {
                status: word,
                managed_domains: pdm.domains().iter().map(PoolDomain::as_str).collect(),
            },
        )
    }

    fn parse_name(&self, raw_pool: &str, raw_sub: &str) -> Result<(PoolDomain, Subdomain), Error> {
        let pool = self.ctx.pdm.domains().resolve(raw_pool)?;
        let sub = Subdomain::parse(raw_sub)?;
        Ok((pool, sub))
    }

    /// Lets the request through when no tokens are configured or it bears a known one, and
    /// says whose.
    fn authorize<B>(&self, request: &Request<B>) -> Result<Option<String>, Error> {
        let tokens = &self.ctx.api_tokens;
        if tokens.is_empty() {
            return Ok(None);
        }
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or(Error::Unauthorized)?;
        let name = tokens.name_of(presented.trim()).ok_or(Error::Forbidden)?;
        tracing::debug!(caller = name, "authorized");
        Ok(Some(name.to_owned()))
    }
}

/// 200 once DNS matches the table, 202 while the change is still owed.
fn sync_status(sync: DnsSync) -> StatusCode {
    match sync {
        DnsSync::Written => StatusCode::OK,
        DnsSync::Pending => StatusCode::ACCEPTED,
    }
}

/// The subdomain of a release, from the JSON body or `?sub=` (both must agree when both are
/// given), and the reservation token the body may present.
async fn release_request<B>(request: Request<B>) -> Result<(String, Option<Uuid>), Error>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let from_query = query_param(&request, "sub");
    let body = read_body(request).await?;
    let (from_body, token) = if body.iter().all(u8::is_ascii_whitespace) {
        (None, None)
    } else {
        let body = parse_json::<ReleaseRequest>(&body)?;
        let token = body
            .reservation_token
            .as_deref()
            .map(service::presented_token);
        (body.subdomain, token)
    };
    let subdomain = match (from_query, from_body) {
        (Some(query), Some(body)) if !query.eq_ignore_ascii_case(&body) => Err(Error::BadRequest(
            "the subdomain in the body and in ?sub= differ".to_owned(),
        )),
        (Some(sub), _) | (None, Some(sub)) => Ok(sub),
        (None, None) => Err(Error::BadRequest(
            "name the subdomain in the body or as ?sub=".to_owned(),
        )),
    }?;
    Ok((subdomain, token))
}

/// The caller's `X-Request-Id` when it is a sane token, a new UUID otherwise.
fn request_id<B>(request: &Request<B>) -> String {
    request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 128
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        })
        .map_or_else(new_request_id, str::to_owned)
}

/// A random UUID from a thread-local generator: a request id must be unique, not unguessable,
/// and this spares a `getrandom` system call per request. Reservation tokens, which must be
/// unguessable, still come from the operating system.
fn new_request_id() -> String {
    uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes())
        .into_uuid()
        .to_string()
}

fn query_param<B>(request: &Request<B>, name: &str) -> Option<String> {
    form_urlencoded::parse(request.uri().query()?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

async fn read_json<T: DeserializeOwned, B>(request: Request<B>) -> Result<T, Error>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let body = read_body(request).await?;
    parse_json(&body)
}

/// The body, refused when it says it is not JSON or is too large.
async fn read_body<B>(request: Request<B>) -> Result<Bytes, Error>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    // A missing content type is tolerated; a declared non-JSON one is a client bug.
    if let Some(content_type) = request.headers().get(header::CONTENT_TYPE) {
        let essence = content_type
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(Error::BadRequest(
                "the body must be JSON (Content-Type: application/json)".to_owned(),
            ));
        }
    }
    match Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(Error::PayloadTooLarge(MAX_BODY_BYTES))
        }
        Err(error) => Err(Error::BadRequest(format!(
            "the request body could not be read: {error}"
        ))),
    }
}

/// Parses a JSON object. serde would also read a struct from an array of its fields in order,
/// which no client of the contract means.
fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(Error::BadRequest(
            "the body must be a JSON object".to_owned(),
        ));
    }
    serde_json::from_slice(body).map_err(|error| {
        Error::BadRequest(format!(
            "the body is not valid JSON for this request: {error}"
        ))
    })
}
