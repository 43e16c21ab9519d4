//! `GET /api/v1/pool/{domain}/allocation?sub=`: one allocation and its DNS state, without its
//! token, so a caller given 202 can follow the change until DNS holds it.

use http::StatusCode;

use super::Call;
use crate::Error;
use crate::domain::Subdomain;
use crate::http::response::{self, HttpResponse};
use crate::http::wire::AllocationBody;

pub async fn handle(call: Call) -> Result<HttpResponse, Error> {
    let pool = call.pool_domain()?;
    let sub = Subdomain::parse(&call.query("sub").unwrap_or_default())?;
    let allocation = call
        .pdm()
        .allocation(&pool, &sub)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(response::json(
        StatusCode::OK,
        &AllocationBody::public(&allocation),
    ))
}
