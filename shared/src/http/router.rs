//! Finds the route, guards it, reads the body under its own deadline, and only then takes
//! one of the process's slots (tower's `LoadShed` over a shared `ConcurrencyLimit`, with a
//! `Timeout` inside) for the handler. Probes take no slot.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderValue, Method, Request, header};
use http_body_util::{BodyExt, Full};
use tokio::sync::Semaphore;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::{ServiceBuilder, ServiceExt};

use super::handlers::Call;
use super::layers::{Served, fold_method, request_id_of};
use super::response::{self, HttpResponse};
use super::routes::{self, Guard, Route};
use super::throttle::{Class, PeerAddr};
use super::{MAX_BODY_BYTES, RequestBody, auth};
use crate::{Ctx, Error};

#[derive(Clone)]
pub struct Router {
    ctx: Arc<Ctx>,
    routes: Arc<[&'static Route]>,
    slots: Arc<Semaphore>,
}

impl Router {
    pub fn new(ctx: Arc<Ctx>, routes: Vec<&'static Route>) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(ctx.limits.max_in_flight)),
            ctx,
            routes: routes.into(),
        }
    }

    async fn answer(self, request: Request<RequestBody>) -> HttpResponse {
        let method = fold_method(request.method());
        let head = request.method() == Method::HEAD;
        let (response, route) = match self.resolve(&request) {
            Ok((route, segment)) => {
                let answered = self.dispatch(route, segment, request).await;
                (answered.unwrap_or_else(|e| response::error(&e)), route.path)
            }
            Err(error) => (response::error(&error), "unmatched"),
        };
        let mut response = if head {
            without_body(response)
        } else {
            response
        };
        response.extensions_mut().insert(Served { route, method });
        response
    }

    /// The route this process serves at the request's path and method (HEAD answers as GET),
    /// and its parameter (`{domain}`, `{registrar}`), percent-decoded.
    fn resolve(&self, request: &Request<RequestBody>) -> Result<(&'static Route, String), Error> {
        let path = request.uri().path();
        let no_route = || Error::NoRoute(format!("no route for {path}"));
        let method = request.method();
        let (route, raw_segment) = routes::resolve(method, path).ok_or_else(no_route)?;
        // A wrong method is 405 even on another function's path: behind API Gateway, the
        // health function takes every request no route matches (`$default`).
        if method != route.method && !(method == Method::HEAD && route.method == Method::GET) {
            return Err(Error::MethodNotAllowed(routes::allowed_at(path)));
        }
        if !self
            .routes
            .iter()
            .any(|served| std::ptr::eq(*served, route))
        {
            return Err(no_route());
        }
        let segment = percent_encoding::percent_decode_str(raw_segment)
            .decode_utf8()
            .map_err(|_| Error::UnsupportedPool("the pool domain is not UTF-8".to_owned()))?;
        Ok((route, segment.into_owned()))
    }

    async fn dispatch(
        &self,
        route: &'static Route,
        segment: String,
        request: Request<RequestBody>,
    ) -> Result<HttpResponse, Error> {
        let caller = match route.guard {
            Guard::Scoped(needed) => {
                let store = self.ctx.pdm.store();
                auth::authorize(&self.ctx.credentials, store, request.headers(), needed).await?
            }
            Guard::Open => None,
        };
        // Probes and the metrics are never throttled: an orchestrator and its scrapers must see
        // a busy process as it is (both cost bounded work).
        if route.shed && route.function.is_some() {
            self.throttled(route, caller.as_ref(), &request)?;
        }
        let (parts, body) = request.into_parts();
        let call = Call {
            ctx: self.ctx.clone(),
            segment,
            query: parts.uri.query().map(str::to_owned),
            body: read_body(body, self.ctx.limits.body_timeout).await?,
            caller,
            request_id: request_id_of(&parts.headers).to_owned(),
            headers: parts.headers,
        };
        if !route.shed {
            return (route.handler)(call).await;
        }
        self.in_a_slot(route, call).await
    }

    /// Spends the request from its caller's budget (a credential's, else its address's):
    /// 429 `rate-limited` past a window.
    fn throttled(
        &self,
        route: &'static Route,
        caller: Option<&crate::scope::Caller>,
        request: &Request<RequestBody>,
    ) -> Result<(), Error> {
        let throttle = &self.ctx.throttle;
        if throttle.is_off() {
            return Ok(());
        }
        let key = match caller {
            Some(caller) => format!("credential:{}", caller.name),
            None => {
                let peer = request.extensions().get::<PeerAddr>().copied();
                match throttle.client(peer, request.headers()) {
                    Some(address) => format!("address:{address}"),
                    None => "address:unknown".to_owned(),
                }
            }
        };
        let class = Class::of(&route.method);
        throttle.check(class, &key).inspect_err(|_| {
            self.ctx.pdm.metrics().record_throttled(class.as_str());
        })
    }

    /// Runs the handler in one of the process's slots, refused at once when none is free,
    /// within the request timeout.
    async fn in_a_slot(&self, route: &'static Route, call: Call) -> Result<HttpResponse, Error> {
        let timeout = self.ctx.limits.request_timeout;
        ServiceBuilder::new()
            .load_shed()
            .layer(GlobalConcurrencyLimitLayer::with_semaphore(
                self.slots.clone(),
            ))
            .timeout(timeout)
            .service_fn(route.handler)
            .oneshot(call)
            .await
            .map_err(|error| refusal(error, timeout))
    }
}

impl tower::Service<Request<RequestBody>> for Router {
    type Response = HttpResponse;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<HttpResponse, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<RequestBody>) -> Self::Future {
        let router = self.clone();
        Box::pin(async move { Ok(router.answer(request).await) })
    }
}

/// The handler's own error, or what the layers around it refused.
fn refusal(error: tower::BoxError, timeout: Duration) -> Error {
    if error.is::<tower::load_shed::error::Overloaded>() {
        return Error::Overloaded;
    }
    if error.is::<tower::timeout::error::Elapsed>() {
        return Error::Timeout(timeout);
    }
    match error.downcast::<Error>() {
        Ok(error) => *error,
        Err(other) => Error::Unexpected(anyhow::anyhow!("{other}")),
    }
}

/// The body, read before the request takes a slot, so that a slow sender holds none: 408 when
/// it does not arrive within `deadline`, 413 beyond [`MAX_BODY_BYTES`].
async fn read_body(body: RequestBody, deadline: Duration) -> Result<Bytes, Error> {
    tokio::time::timeout(deadline, read_limited(body))
        .await
        .map_err(|_| Error::BodyTimeout(deadline))?
}

/// Frame by frame rather than with `http_body_util::Limited`, whose boxed-error bound the
/// compiler cannot prove `Send` for inside the router's future.
async fn read_limited(mut body: RequestBody) -> Result<Bytes, Error> {
    // A declared length (Content-Length) past the limit is refused before any byte is awaited.
    if http_body::Body::size_hint(&body).lower() > MAX_BODY_BYTES as u64 {
        return Err(Error::PayloadTooLarge(MAX_BODY_BYTES));
    }
    let mut read = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| {
            Error::BadRequest(format!("the request body could not be read: {error}"))
        })?;
        if let Ok(data) = frame.into_data() {
            if read.len() + data.len() > MAX_BODY_BYTES {
                return Err(Error::PayloadTooLarge(MAX_BODY_BYTES));
            }
            read.extend_from_slice(&data);
        }
    }
    Ok(read.freeze())
}

/// A HEAD answer: a GET's status and headers, its length, no body.
fn without_body(response: HttpResponse) -> HttpResponse {
    use http_body::Body;
    let (mut parts, body) = response.into_parts();
    if let Some(length) = body.size_hint().exact() {
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    HttpResponse::from_parts(parts, Full::new(Bytes::new()))
}
