//! `GET /metrics`: this process's Prometheus exposition, with the table's state read at most
//! every few seconds; open, so its cost per request is bounded, and served while the database
//! is down.

use http::StatusCode;

use super::Call;
use crate::Error;
use crate::http::response::{self, HttpResponse};

pub async fn handle(call: Call) -> Result<HttpResponse, Error> {
    Ok(response::bytes_with_type(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        call.pdm().render_metrics().await,
    ))
}
