//! `GET /api/v1/pool/{domain}/check?sub=`: always 200, available or why not, from the table.

use http::StatusCode;

use super::Call;
use crate::Error;
use crate::http::response::{self, HttpResponse};
use crate::http::wire::CheckResponse;

pub async fn handle(call: Call) -> Result<HttpResponse, Error> {
    let sub = call.query("sub").unwrap_or_default();
    let availability = call.pdm().check(&call.segment, &sub).await?;
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
