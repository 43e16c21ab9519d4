//! `GET /api/v1/pool/{domain}/list`: the pool's live allocations, paged by `limit`/`after`.

use http::StatusCode;

use super::Call;
use crate::Error;
use crate::domain::Subdomain;
use crate::http::response::{self, HttpResponse};
use crate::http::wire::{AllocationBody, ListResponse};
use crate::service::MAX_PAGE;

pub async fn handle(call: Call) -> Result<HttpResponse, Error> {
    let pdm = call.pdm();
    let pool = call.pool_domain()?;
    let limit = call
        .query("limit")
        .map(|raw| {
            raw.parse::<i64>().map_err(|_| {
                Error::BadRequest(format!("limit must be a whole number from 1 to {MAX_PAGE}"))
            })
        })
        .transpose()?;
    // The cursor is a subdomain handed out as `next`: anything else is no cursor of ours.
    let after = call
        .query("after")
        .filter(|after| !after.is_empty())
        .map(|after| Subdomain::parse(&after))
        .transpose()
        .map_err(|_| Error::BadRequest("after must be a subdomain, as `next` gives".to_owned()))?;
    let page = pdm
        .list(&pool, after.as_ref().map(Subdomain::as_str), limit)
        .await?;
    Ok(response::json(
        StatusCode::OK,
        &ListResponse {
            pool_domain: pool.as_str(),
            allocations: page
                .allocations
                .iter()
                .map(AllocationBody::public)
                .collect(),
            next: page.next.as_deref(),
        },
    ))
}
