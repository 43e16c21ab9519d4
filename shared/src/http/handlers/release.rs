//! `DELETE /api/v1/pool/{domain}/release`: the subdomain from the body or `?sub=` (both must
//! agree when both are given), and the reservation token the body may present.

use super::Call;
use crate::Error;
use crate::domain::Subdomain;
use crate::http::response::{self, HttpResponse};
use crate::http::wire::{ReleaseRequest, ReleaseResponse};
use crate::service::{DnsSync, presented_token};

pub async fn handle(call: Call) -> Result<HttpResponse, Error> {
    let (from_body, token) = if call.has_no_body() {
        (None, None)
    } else {
        let body: ReleaseRequest = call.json()?;
        let token = body.reservation_token.as_deref().map(presented_token);
        (body.subdomain, token)
    };
    let raw_sub = match (call.query("sub"), from_body) {
        (Some(query), Some(body)) if !query.eq_ignore_ascii_case(&body) => Err(Error::BadRequest(
            "the subdomain in the body and in ?sub= differ".to_owned(),
        )),
        (Some(sub), _) | (None, Some(sub)) => Ok(sub),
        (None, None) => Err(Error::BadRequest(
            "name the subdomain in the body or as ?sub=".to_owned(),
        )),
    }?;
    let pdm = call.pdm();
    let pool = call.pool_domain()?;
    let sub = Subdomain::parse(&raw_sub)?;
    let (freed, sync) = pdm.release(&pool, &sub, token, &call.actor("")).await?;
    Ok(freed_answer(&freed, sync))
}

/// A release's answer: 200 once DNS no longer holds the name, 202 while that is owed.
pub fn freed_answer(freed: &str, sync: DnsSync) -> HttpResponse {
    response::json(response::sync_status(&sync), &ReleaseResponse { freed })
}
