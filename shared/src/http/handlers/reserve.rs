//! `POST /api/v1/pool/{domain}/reserve`: holds a name; 201 with the reservation token.

use http::StatusCode;

use super::Call;
use crate::Error;
use crate::domain::CreatedBy;
use crate::http::response::{self, HttpResponse};
use crate::http::wire::{AllocationBody, ReserveRequest};

pub async fn handle(call: Call) -> Result<HttpResponse, Error> {
    let body: ReserveRequest = call.json()?;
    let created_by = CreatedBy::parse(&body.created_by)?;
    let pdm = call.pdm();
    let (pool, sub, _) = pdm.parse_reservable(&call.segment, &body.subdomain)?;
    let actor = call.actor(created_by.as_str());
    let reserved = pdm.reserve(&pool, &sub, &created_by, &actor).await?;
    Ok(response::json(
        StatusCode::CREATED,
        &AllocationBody::for_holder(&reserved),
    ))
}
