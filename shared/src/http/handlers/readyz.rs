//! `GET /readyz`: ready to serve, meaning the database answers and holds every migration this
//! build knows; 503 with the reason otherwise.

use http::StatusCode;

use super::Call;
use crate::Error;
use crate::http::response::{self, HttpResponse};
use crate::http::wire::Status;

pub async fn handle(call: Call) -> Result<HttpResponse, Error> {
    Ok(match call.pdm().readiness().await {
        Ok(()) => response::json(StatusCode::OK, &Status::ok()),
        Err(detail) => response::json(
            StatusCode::SERVICE_UNAVAILABLE,
            &Status {
                status: "unavailable",
                detail: Some(detail),
            },
        ),
    })
}
