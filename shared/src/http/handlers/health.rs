//! `GET /healthz`: 200 with the managed domains when the database answers, 503 otherwise.

use http::StatusCode;

use super::Call;
use crate::Error;
use crate::domain::PoolDomain;
use crate::http::response::{self, HttpResponse};
use crate::http::wire::HealthResponse;

pub async fn handle(call: Call) -> Result<HttpResponse, Error> {
    let pdm = call.pdm();
    let (status, word) = if pdm.healthy().await {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    Ok(response::json(
        status,
        &HealthResponse {
            status: word,
            managed_domains: pdm.domains().iter().map(PoolDomain::as_str).collect(),
        },
    ))
}
