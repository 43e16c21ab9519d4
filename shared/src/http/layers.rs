//! What wraps every route: request ids (tower-http's, behind a filter of ours), and the access
//! log and request metrics (tower-http's `TraceLayer`), whose labels come only from fixed sets.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method, Request, Response};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::request_id::{MakeRequestId, RequestId};
use tower_http::trace::{MakeSpan, OnResponse, TraceLayer};
use tracing::Span;

use super::REQUEST_ID;
use super::response::ErrorCode;
use crate::Ctx;

/// What the router answered, for the access log and metrics: the route's path template from
/// the table (`unmatched` otherwise) and the method folded to a known one.
#[derive(Debug, Clone, Copy)]
pub struct Served {
    pub route: &'static str,
    pub method: &'static str,
}

/// The request's id, as the request-id layer set it (empty before that layer).
pub fn request_id_of(headers: &http::HeaderMap) -> &str {
    headers
        .get(&REQUEST_ID)
        .and_then(|id| id.to_str().ok())
        .unwrap_or_default()
}

/// Methods a label may name; any other is `other`, so no request can add a series.
pub fn fold_method(method: &Method) -> &'static str {
    const KNOWN: [Method; 7] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
    ];
    const NAMES: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
    KNOWN
        .iter()
        .position(|known| known == method)
        .map_or("other", |i| NAMES[i])
}

/// Drops a caller's `X-Request-Id` that is not a sane token, so that one is made instead:
/// tower-http keeps whatever it is given, and the id goes to the log and the audit trail.
pub fn drop_insane_request_id<B>(mut request: Request<B>) -> Request<B> {
    let sane = request
        .headers()
        .get(&REQUEST_ID)
        .map(|id| id.as_bytes())
        .is_none_or(|id| {
            !id.is_empty()
                && id.len() <= 128
                && id
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'))
        });
    if !sane {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

/// Random UUIDs from a thread-local generator: a request id must be unique, not unguessable,
/// and this spares a `getrandom` system call per request. Reservation tokens, which must be
/// unguessable, still come from the operating system.
#[derive(Debug, Clone, Copy, Default)]
pub struct FastRequestId;

impl MakeRequestId for FastRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid();
        HeaderValue::from_str(&id.to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// tower-http's `TraceLayer` with a span per request and one access log line per answer.
pub type AccessLogLayer =
    TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RequestSpan, (), AccessLog, (), (), ()>;

/// The access log line and the request metrics, once per answer, in the request's span.
pub fn access_log(ctx: Arc<Ctx>) -> AccessLogLayer {
    TraceLayer::new_for_http()
        .make_span_with(RequestSpan)
        .on_request(())
        .on_response(AccessLog(ctx))
        .on_body_chunk(())
        .on_eos(())
        .on_failure(())
}

/// A span per request, carrying its id and the start of its path.
#[derive(Debug, Clone, Copy)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        let id = request_id_of(request.headers());
        // A path is as long as its sender likes; the log keeps its start.
        let path = request.uri().path();
        let path = path.get(..path.len().min(200)).unwrap_or_default();
        tracing::info_span!("request", request_id = id, path)
    }
}

/// Records the request's metrics and writes its access log line.
#[derive(Clone)]
pub struct AccessLog(Arc<Ctx>);

impl<B> OnResponse<B> for AccessLog {
    fn on_response(self, response: &Response<B>, took: Duration, _: &Span) {
        let served = response.extensions().get::<Served>().copied();
        let Served { route, method } = served.unwrap_or(Served {
            route: "unmatched",
            method: "other",
        });
        let status = response.status().as_u16();
        self.0
            .pdm
            .metrics()
            .record_request(route, method, status, took);
        let error = response.extensions().get::<ErrorCode>().map(|code| code.0);
        tracing::info!(
            method,
            route,
            status,
            error,
            elapsed_ms = took.as_secs_f64() * 1e3,
            "request"
        );
    }
}
