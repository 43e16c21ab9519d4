//! Decommission by FQDN, for catalyst-api's sovereign-side flows:
//! `POST /api/v1/release` (exactly `DELETE …/release`, the sovereign named by its FQDN) and
//! the operator's `POST /api/v1/force-release` for a sovereign whose cluster never
//! decommissioned.

use super::Call;
use super::release::freed_answer;
use crate::Error;
use crate::http::response::HttpResponse;
use crate::http::wire::{ForceReleaseRequest, ReleaseFqdnRequest};

/// The header an operator sends to say they mean it.
pub const FORCE_RELEASE_CONFIRM: &str = "x-force-release-confirm";

pub async fn release(call: Call) -> Result<HttpResponse, Error> {
    let body: ReleaseFqdnRequest = call.json()?;
    let pdm = call.pdm();
    let (pool, sub) = pdm.split_fqdn(&body.sovereign_fqdn)?;
    let (freed, sync) = pdm.release(&pool, &sub, None, &call.actor("")).await?;
    Ok(freed_answer(&freed, sync))
}

pub async fn force_release(call: Call) -> Result<HttpResponse, Error> {
    let confirmed = call
        .single_header(FORCE_RELEASE_CONFIRM)
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("yes"));
    if !confirmed {
        return Err(Error::ConfirmationRequired);
    }
    let body: ForceReleaseRequest = call.json()?;
    let (freed, sync) = call
        .pdm()
        .force_release(
            &body.sovereign_fqdn,
            &body.reason,
            body.grace_confirmed,
            &call.actor(""),
        )
        .await?;
    Ok(freed_answer(&freed, sync))
}
