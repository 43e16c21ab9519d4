//! `POST /api/v1/pool/{domain}/freeze {"reason"}` and `DELETE …/freeze`: an operator stops
//! reservations under a pool during abuse, and lifts the freeze.

use http::StatusCode;

use super::Call;
use crate::Error;
use crate::http::response::{self, HttpResponse};
use crate::http::wire::{FreezeRequest, FreezeResponse};

pub async fn freeze(call: Call) -> Result<HttpResponse, Error> {
    let body: FreezeRequest = call.json()?;
    let pool = call.pool_domain()?;
    let frozen = call
        .pdm()
        .freeze(&pool, &body.reason, &call.actor(""))
        .await?;
    Ok(response::json(
        StatusCode::OK,
        &FreezeResponse::frozen(&frozen),
    ))
}

pub async fn unfreeze(call: Call) -> Result<HttpResponse, Error> {
    let pool = call.pool_domain()?;
    call.pdm().unfreeze(&pool, &call.actor("")).await?;
    Ok(response::json(
        StatusCode::OK,
        &FreezeResponse::lifted(pool.as_str()),
    ))
}
