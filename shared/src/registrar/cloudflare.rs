//! Cloudflare's API v4 (developers.cloudflare.com/api). The token is an API token sent as
//! `Authorization: Bearer`. `GET /user/tokens/verify` proves it is active, and
//! `GET /zones?name={domain}` finds the domain's zone (an empty list: not in this account).
//! Records are written with `POST /zones/{id}/dns_records`, or `PUT …/dns_records/{record}`
//! over one that stands at the same name and type. Cloudflare serves a zone only from its
//! own name servers, so its API cannot point a domain elsewhere: set-ns is refused here. Every
//! answer is the envelope `{"success", "errors": [{"code", "message"}], "result"}`; 429 carries
//! `Retry-After`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Record, Registrar, RegistrarError, Token, by_status, client, log_answer, send};

#[derive(Debug)]
pub struct Cloudflare {
    http: reqwest::Client,
    base: String,
}

#[derive(Deserialize)]
struct Envelope<T> {
    result: Option<T>,
}

#[derive(Deserialize)]
struct Zone {
    id: String,
    #[serde(default)]
    name_servers: Vec<String>,
}

#[derive(Deserialize)]
struct DnsRecord {
    id: String,
}

impl Cloudflare {
    pub fn new(base: &str, timeout: Duration) -> Self {
        Self {
            http: client(timeout),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        token: &Token,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Option<T>, RegistrarError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token.expose());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answered = send("cloudflare", request).await?;
        if answered.status.is_success() {
            return serde_json::from_slice::<Envelope<T>>(&answered.body)
                .map(|envelope| envelope.result)
                .map_err(|_| RegistrarError::Unavailable);
        }
        log_answer(
            "cloudflare",
            token,
            answered.status.as_u16(),
            &answered.body,
        );
        Err(match answered.status {
            // 400 with 6003/6111 is a malformed Authorization header: a token that is no token.
            StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST if path.starts_with("/user") => {
                RegistrarError::InvalidToken
            }
            status => by_status(
                status,
                answered.retry_after,
                "Cloudflare refused the request (see PDM's log)",
            ),
        })
    }

    async fn zone(&self, token: &Token, domain: &str) -> Result<Zone, RegistrarError> {
        let path = format!("/zones?name={domain}");
        let zones: Vec<Zone> = self
            .call(token, Method::GET, &path, None)
            .await?
            .unwrap_or_default();
        zones
            .into_iter()
            .next()
            .ok_or(RegistrarError::DomainNotInAccount)
    }
}

#[async_trait::async_trait]
impl Registrar for Cloudflare {
    fn name(&self) -> &'static str {
        "cloudflare"
    }

    async fn validate(&self, token: &Token, domain: &str) -> Result<(), RegistrarError> {
        self.call::<Value>(token, Method::GET, "/user/tokens/verify", None)
            .await?;
        self.zone(token, domain).await.map(drop)
    }

    async fn nameservers(
        &self,
        token: &Token,
        domain: &str,
    ) -> Result<Vec<String>, RegistrarError> {
        Ok(self.zone(token, domain).await?.name_servers)
    }

    async fn set_nameservers(
        &self,
        _token: &Token,
        _domain: &str,
        _nameservers: &[String],
    ) -> Result<(), RegistrarError> {
        Err(RegistrarError::SetNsNotSupported("cloudflare"))
    }

    async fn set_records(
        &self,
        token: &Token,
        domain: &str,
        records: &[Record],
    ) -> Result<(), RegistrarError> {
        let zone = self.zone(token, domain).await?;
        for record in records {
            let name = if record.name == "@" {
                domain.to_owned()
            } else {
                format!("{}.{domain}", record.name)
            };
            let mut body = json!({
                "type": record.kind.as_str(),
                "name": name,
                "content": record.value.trim(),
                "ttl": record.ttl,
            });
            if let Some(priority) = record.priority {
                body["priority"] = json!(priority);
            }
            let existing = format!(
                "/zones/{}/dns_records?type={}&name={name}",
                zone.id,
                record.kind.as_str()
            );
            let standing: Vec<DnsRecord> = self
                .call(token, Method::GET, &existing, None)
                .await?
                .unwrap_or_default();
            let (method, path) = match standing.first() {
                Some(found) => (
                    Method::PUT,
                    format!("/zones/{}/dns_records/{}", zone.id, found.id),
                ),
                None => (Method::POST, format!("/zones/{}/dns_records", zone.id)),
            };
            self.call::<Value>(token, method, &path, Some(body)).await?;
        }
        Ok(())
    }

    fn propagation(&self) -> &'static str {
        "records are served by Cloudflare within seconds"
    }
}
