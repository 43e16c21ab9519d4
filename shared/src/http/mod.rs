//! The contract over HTTP as a plain `tower::Service`, no framework, so the same value runs
//! under hyper, under Lambda and in-process tests. One route table ([`routes`]) of small
//! handlers ([`handlers`]); what every request goes through is tower layers around it:
//! request ids and the access log with metrics (tower-http), then the router, which reads the
//! body under its own deadline before a request takes one of the process's slots (tower's
//! `LoadShed` and `ConcurrencyLimit`, with a `Timeout`).

mod auth;
pub mod handlers;
mod layers;
mod response;
mod router;
pub mod routes;
pub mod throttle;
pub mod wire;

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderName, Request, Response};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use tower::util::{BoxCloneSyncService, MapRequestLayer};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};

pub use response::{ErrorCode, HttpResponse, sync_status};
pub use routes::{Guard, ROUTES, Route};

use crate::Ctx;

/// Honoured when the caller sends a sane one, generated otherwise, returned either way.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request bodies are a few hundred bytes; anything near this is not a PDM client.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Whatever body the runtime hands in (hyper's, Lambda's, a test's), boxed once.
type RequestBody = UnsyncBoxBody<Bytes, BoxError>;
/// An answer of the endpoint.
pub type EndpointResponse = Response<UnsyncBoxBody<Bytes, Infallible>>;

/// The contract's routes (all of them, or one function's) behind their layers.
#[derive(Clone)]
pub struct Endpoint {
    service: BoxCloneSyncService<Request<RequestBody>, EndpointResponse, Infallible>,
}

impl Endpoint {
    /// Every route: the combined server.
    pub fn router(ctx: Arc<Ctx>) -> Self {
        Self::serving(ctx, ROUTES.iter().collect())
    }

    /// The routes of one function binary (`pdm-check`, …); other paths answer 404.
    pub fn function(ctx: Arc<Ctx>, function: &str) -> Self {
        Self::serving(ctx, routes::of_function(function))
    }

    fn serving(ctx: Arc<Ctx>, routes: Vec<&'static Route>) -> Self {
        let service = ServiceBuilder::new()
            .layer(MapRequestLayer::new(layers::drop_insane_request_id))
            .layer(SetRequestIdLayer::new(REQUEST_ID, layers::FastRequestId))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(layers::access_log(ctx.clone()))
            .service(router::Router::new(ctx, routes))
            .map_response(|response| response.map(BodyExt::boxed_unsync));
        Self {
            service: BoxCloneSyncService::new(service),
        }
    }
}

impl<B> Service<Request<B>> for Endpoint
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = EndpointResponse;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<EndpointResponse, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let request = request.map(|body| body.map_err(Into::into).boxed_unsync());
        Box::pin(self.service.clone().oneshot(request))
    }
}
