//! `GET /api/v1/pool/{domain}/history?sub=`: the allocation's audit trail, oldest first, and
//! the allocation as it stands (absent once released).

use http::StatusCode;

use super::Call;
use crate::Error;
use crate::domain::Subdomain;
use crate::http::response::{self, HttpResponse};
use crate::http::wire::{AllocationBody, EventBody, HistoryResponse};

pub async fn handle(call: Call) -> Result<HttpResponse, Error> {
    let pdm = call.pdm();
    let pool = call.pool_domain()?;
    let sub = Subdomain::parse(&call.query("sub").unwrap_or_default())?;
    let (events, allocation) =
        futures::try_join!(pdm.history(&pool, &sub), pdm.allocation(&pool, &sub))?;
    Ok(response::json(
        StatusCode::OK,
        &HistoryResponse {
            pool_domain: pool.as_str(),
            subdomain: sub.as_str(),
            events: events.iter().map(EventBody::from).collect(),
            allocation: allocation.as_ref().map(AllocationBody::public),
        },
    ))
}
