//! `POST /api/v1/pool/{domain}/commit`: the row first, then DNS; 200 when DNS holds it, 202
//! while it is owed.

use super::Call;
use crate::Error;
use crate::domain::Subdomain;
use crate::http::response::{self, HttpResponse};
use crate::http::wire::{AllocationBody, CommitRequest};

pub async fn handle(call: Call) -> Result<HttpResponse, Error> {
    let body: CommitRequest = call.json()?;
    let pdm = call.pdm();
    let pool = call.pool_domain()?;
    let sub = Subdomain::parse(&body.subdomain)?;
    let commit = pdm.parse_commit(
        &pool.fqdn(&sub)?,
        &body.reservation_token,
        body.sovereign_fqdn.as_deref(),
        (
            body.load_balancer_ip.as_deref(),
            body.console_load_balancer_ip.as_deref(),
        ),
    )?;
    let (allocation, sync) = pdm.commit(&pool, &sub, &commit, &call.actor("")).await?;
    Ok(response::json(
        response::sync_status(&sync),
        &AllocationBody::public(&allocation),
    ))
}
