//! `POST /api/v1/registrar/{registrar}/validate|set-ns|set-dns`: bring-your-own domains,
//! through the customer's registrar with the customer's token, for this request only.

use http::StatusCode;

use super::Call;
use crate::Error;
use crate::http::response::{self, HttpResponse};
use crate::http::wire::{RegistrarRequest, SetDnsResponse, SetNsResponse, ValidateResponse};
use crate::registrar::Request;

fn asked(call: &Call) -> Result<(Request, RegistrarRequest), Error> {
    let body: RegistrarRequest = call.json()?;
    let request = call
        .ctx
        .registrars
        .request(&call.segment, &body.domain, &body.token)?;
    Ok((request, body))
}

pub async fn validate(call: Call) -> Result<HttpResponse, Error> {
    let (request, _) = asked(&call)?;
    request.validate().await?;
    Ok(response::json(
        StatusCode::OK,
        &ValidateResponse {
            valid: true,
            registrar: request.registrar.name(),
            domain: &request.domain,
        },
    ))
}

pub async fn set_ns(call: Call) -> Result<HttpResponse, Error> {
    let (request, body) = asked(&call)?;
    let nameservers = request
        .set_ns(body.nameservers.as_deref().unwrap_or_default())
        .await?;
    Ok(response::json(
        StatusCode::OK,
        &SetNsResponse {
            success: true,
            registrar: request.registrar.name(),
            domain: &request.domain,
            nameservers,
            propagation: request.registrar.propagation(),
        },
    ))
}

pub async fn set_dns(call: Call) -> Result<HttpResponse, Error> {
    let (request, body) = asked(&call)?;
    let records = body.records.as_deref().unwrap_or_default();
    request.set_dns(records).await?;
    Ok(response::json(
        StatusCode::OK,
        &SetDnsResponse {
            success: true,
            registrar: request.registrar.name(),
            domain: &request.domain,
            records: records.len(),
            propagation: request.registrar.propagation(),
        },
    ))
}
