//! One small handler per endpoint. Each parses its call into domain types and asks the core;
//! the layers around them (auth, limits, timeouts, request ids, metrics, the access log) are
//! the router's and the endpoint's, not theirs.

pub mod allocation;
pub mod check;
pub mod commit;
pub mod decommission;
pub mod freeze;
pub mod health;
pub mod history;
pub mod list;
pub mod livez;
pub mod metrics;
pub mod openapi;
pub mod readyz;
pub mod registrar;
pub mod release;
pub mod reserve;
pub mod reserved;
pub mod tokens;

use std::sync::Arc;

use bytes::Bytes;
use http::HeaderMap;
use serde::de::DeserializeOwned;

use crate::domain::PoolDomain;
use crate::scope::Caller;
use crate::store::Actor;
use crate::{Ctx, Error, Pdm};

/// A request as a handler sees it: routed, authorized, its body read.
pub struct Call {
    pub ctx: Arc<Ctx>,
    /// The path's parameter (`{domain}` or `{registrar}`), percent-decoded; empty for routes
    /// without one.
    pub segment: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Who presented credentials, when the route is guarded and credentials are configured.
    pub caller: Option<Caller>,
    pub request_id: String,
}

impl Call {
    pub fn pdm(&self) -> &Pdm {
        &self.ctx.pdm
    }

    /// The managed pool the path names, or `unsupported-pool`.
    pub fn pool_domain(&self) -> Result<PoolDomain, Error> {
        self.pdm().domains().resolve(&self.segment)
    }

    /// The query parameter `name`, decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_deref()?.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    /// The audit trail's actor: the bearer token's name, else what the caller says it is.
    pub fn actor(&self, claimed: &str) -> Actor {
        let name = self
            .caller
            .as_ref()
            .map(|caller| caller.name.clone())
            .or_else(|| (!claimed.is_empty()).then(|| claimed.to_owned()))
            .unwrap_or_else(|| "anonymous".to_owned());
        Actor {
            name,
            request_id: Some(self.request_id.clone()),
            reason: None,
            caller: self.caller.clone(),
        }
    }

    /// The header `name`, when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The header `name` when it is sent exactly once, as text: a repeated header that must
    /// say one thing (a confirmation) is not read by its first value.
    pub fn single_header(&self, name: &str) -> Option<&str> {
        let mut values = self.headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (Some(value), None) => value.to_str().ok(),
            _ => None,
        }
    }

    /// Whether the body is empty (whitespace only).
    pub fn has_no_body(&self) -> bool {
        self.body.iter().all(u8::is_ascii_whitespace)
    }

    /// The body as a JSON object of `T`. A missing content type is tolerated; a declared
    /// non-JSON one is a client bug. serde would also read a struct from an array of its
    /// fields in order, which no client of the contract means.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        if let Some(content_type) = self.headers.get(http::header::CONTENT_TYPE) {
            let essence = content_type
                .to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(Error::BadRequest(
                    "the body must be JSON (Content-Type: application/json)".to_owned(),
                ));
            }
        }
        if self.body.trim_ascii_start().first() != Some(&b'{') {
            return Err(Error::BadRequest(
                "the body must be a JSON object".to_owned(),
            ));
        }
        serde_json::from_slice(&self.body).map_err(|error| {
            Error::BadRequest(format!(
                "the body is not valid JSON for this request: {error}"
            ))
        })
    }
}
