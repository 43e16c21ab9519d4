//! `POST /api/v1/registrar/{registrar}/validate|set-ns|set-dns`: bring-your-own domains,
//! through the customer's registrar with the customer's token, for this request only. Input
//! is checked before any registrar is called.

use std::sync::Arc;

use http::StatusCode;

use super::Call;
use crate::Error;
use crate::http::response::{self, HttpResponse};
use crate::http::wire::{RegistrarRequest, SetDnsResponse, SetNsResponse, ValidateResponse};
use crate::registrar::{Registrar, Token, normalized_nameservers};

/// The adapter the path names, the body, the customer's domain and token.
struct Asked {
    registrar: Arc<dyn Registrar>,
    body: RegistrarRequest,
    domain: String,
    token: Token,
}

fn asked(call: &Call) -> Result<Asked, Error> {
    let registrars = &call.ctx.registrars;
    let registrar = registrars
        .get(&call.segment)
        .cloned()
        .ok_or_else(|| Error::UnsupportedRegistrar(call.segment.clone(), registrars.names()))?;
    let body: RegistrarRequest = call.json()?;
    let domain = body
        .domain
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if !crate::domain::is_hostname(&domain) || !domain.contains('.') {
        return Err(Error::InvalidFormat(
            "domain must be a domain name".to_owned(),
        ));
    }
    if body.token.trim().is_empty() {
        return Err(Error::InvalidFormat("token is required".to_owned()));
    }
    let token = Token::new(&body.token);
    Ok(Asked {
        registrar,
        body,
        domain,
        token,
    })
}

pub async fn validate(call: Call) -> Result<HttpResponse, Error> {
    let asked = asked(&call)?;
    asked
        .registrar
        .validate(&asked.token, &asked.domain)
        .await?;
    Ok(response::json(
        StatusCode::OK,
        &ValidateResponse {
            valid: true,
            registrar: asked.registrar.name(),
            domain: &asked.domain,
        },
    ))
}

/// Validates, sets the name servers, then reads them back: the answer says what the
/// registrar holds, not what was asked.
pub async fn set_ns(call: Call) -> Result<HttpResponse, Error> {
    let asked = asked(&call)?;
    let given = asked.body.nameservers.as_deref().unwrap_or_default();
    let nameservers = normalized_nameservers(given).map_err(Error::InvalidFormat)?;
    let (registrar, token, domain) = (&asked.registrar, &asked.token, &asked.domain);
    registrar.validate(token, domain).await?;
    registrar
        .set_nameservers(token, domain, &nameservers)
        .await?;
    let held = registrar.nameservers(token, domain).await?;
    Ok(response::json(
        StatusCode::OK,
        &SetNsResponse {
            success: true,
            registrar: registrar.name(),
            domain,
            nameservers: held
                .iter()
                .map(|ns| ns.trim_end_matches('.').to_ascii_lowercase())
                .collect(),
            propagation: registrar.propagation(),
        },
    ))
}

pub async fn set_dns(call: Call) -> Result<HttpResponse, Error> {
    let asked = asked(&call)?;
    let records = asked.body.records.as_deref().unwrap_or_default();
    if records.is_empty() {
        return Err(Error::InvalidFormat(
            "records must hold at least one record".to_owned(),
        ));
    }
    for record in records {
        record.validate().map_err(Error::InvalidFormat)?;
    }
    let (registrar, token, domain) = (&asked.registrar, &asked.token, &asked.domain);
    registrar.set_records(token, domain, records).await?;
    Ok(response::json(
        StatusCode::OK,
        &SetDnsResponse {
            success: true,
            registrar: registrar.name(),
            domain,
            records: records.len(),
            propagation: registrar.propagation(),
        },
    ))
}
