//! `POST /api/v1/tokens`, `GET /api/v1/tokens`, `DELETE /api/v1/tokens/{name}`: credentials
//! held in the database, made and revoked without a redeploy (operate). The secret is in the
//! create answer only; nothing else ever shows it or its digest.

use http::StatusCode;

use super::Call;
use crate::Error;
use crate::http::response::{self, HttpResponse};
use crate::http::wire::{CredentialBody, CredentialList, NewCredential, NewCredentialRequest};

pub async fn create(call: Call) -> Result<HttpResponse, Error> {
    let body: NewCredentialRequest = call.json()?;
    let created = call
        .ctx
        .credentials
        .create(
            call.pdm().store(),
            body.name.trim(),
            &body.scopes,
            (body.quota, body.expires_at),
        )
        .await?;
    Ok(response::json(
        StatusCode::CREATED,
        &NewCredential {
            token: &created.secret,
            credential: CredentialBody::from(&created.credential),
        },
    ))
}

pub async fn list(call: Call) -> Result<HttpResponse, Error> {
    let stored = call.pdm().store().credentials().await?;
    Ok(response::json(
        StatusCode::OK,
        &CredentialList {
            tokens: stored.iter().map(CredentialBody::from).collect(),
        },
    ))
}

pub async fn revoke(call: Call) -> Result<HttpResponse, Error> {
    call.ctx
        .credentials
        .revoke(call.pdm().store(), &call.segment)
        .await?;
    Ok(response::json(
        StatusCode::OK,
        &serde_json::json!({ "revoked": call.segment }),
    ))
}
