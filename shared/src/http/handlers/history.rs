//! `GET /api/v1/pool/{domain}/history?sub=`: the allocation's audit trail, oldest first.

use http::StatusCode;

use super::Call;
use crate::Error;
use crate::domain::Subdomain;
use crate::http::response::{self, HttpResponse};
use crate::http::wire::{EventBody, HistoryResponse};

pub async fn handle(call: Call) -> Result<HttpResponse, Error> {
    let pdm = call.pdm();
    let pool = call.pool_domain()?;
    let sub = Subdomain::parse(&call.query("sub").unwrap_or_default())?;
    let events = pdm.history(&pool, &sub).await?;
    Ok(response::json(
        StatusCode::OK,
        &HistoryResponse {
            pool_domain: pool.as_str(),
            subdomain: sub.as_str(),
            events: events.iter().map(EventBody::from).collect(),
        },
    ))
}
