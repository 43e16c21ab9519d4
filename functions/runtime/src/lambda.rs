//! The Lambda side: API Gateway HTTP API (v2) and function URL events into the endpoint.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::BodyExt;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use pdm_core::http::throttle::PeerAddr;
use pdm_core::http::{Endpoint, EndpointResponse};
use tower::ServiceExt;

/// Runs `endpoint` under the Lambda runtime until it stops.
pub async fn serve(endpoint: Endpoint) -> Result<(), lambda_http::Error> {
    lambda_http::run(tower::service_fn(move |request: lambda_http::Request| {
        let endpoint = endpoint.clone();
        async move {
            let response = endpoint
                .oneshot(with_source_ip(without_stage(request)))
                .await?;
            Ok::<_, Infallible>(into_lambda_response(response).await)
        }
    }))
    .await
}

/// The request carrying its client's address as API Gateway saw it, for the rate limit of
/// open routes.
fn with_source_ip(mut request: lambda_http::Request) -> lambda_http::Request {
    let source = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
        _ => None,
    };
    if let Some(address) = source.and_then(|ip| ip.parse().ok()) {
        request.extensions_mut().insert(PeerAddr(address));
    }
    request
}

/// The request with a named API Gateway stage (`/prod/api/...`) taken off its path, so the
/// contract's paths route the same behind any stage, a function URL or `cargo lambda watch`.
pub fn without_stage(mut request: lambda_http::Request) -> lambda_http::Request {
    let stage = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.stage.clone(),
        _ => None,
    };
    let Some(stage) = stage.filter(|stage| stage != "$default") else {
        return request;
    };
    let uri = request.uri();
    let Some(rest) = uri.path().strip_prefix(&format!("/{stage}")) else {
        return request;
    };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return request;
    }
    let path_and_query = match uri.query() {
        Some(query) => format!("{}?{query}", if rest.is_empty() { "/" } else { rest }),
        None => if rest.is_empty() { "/" } else { rest }.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    if let Ok(path_and_query) = path_and_query.parse() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// Our bodies are small JSON documents: hand them to API Gateway as text, not base64.
async fn into_lambda_response(response: EndpointResponse) -> http::Response<Body> {
    let (parts, body) = response.into_parts();
    let bytes: Bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    let body = match String::from_utf8(bytes.to_vec()) {
        Ok(text) => Body::Text(text),
        Err(_) => Body::Binary(bytes.to_vec()),
    };
    http::Response::from_parts(parts, body)
}
