//! `GET /api/v1/reserved`: the labels never handed out.

use http::StatusCode;

use super::Call;
use crate::Error;
use crate::domain::RESERVED_LABELS;
use crate::http::response::{self, HttpResponse};
use crate::http::wire::ReservedResponse;

pub async fn handle(_: Call) -> Result<HttpResponse, Error> {
    Ok(response::json(
        StatusCode::OK,
        &ReservedResponse {
            reserved: &RESERVED_LABELS,
        },
    ))
}
