//! GoDaddy's Domains API v1 (developer.godaddy.com). The token is `key:secret`, sent as
//! `Authorization: sso-key key:secret`. The domain is read with `GET /v1/domains/{domain}`,
//! its name servers changed with `PATCH /v1/domains/{domain}` `{"nameServers": […]}` (204),
//! and records replaced per name and type with `PUT /v1/domains/{domain}/records/{type}/{name}`.
//! Errors are `{"code": …, "message": …}`: 401 `UNABLE_TO_AUTHENTICATE`, 403 `ACCESS_DENIED`,
//! 404 `NOT_FOUND`, 422 `INVALID_BODY`, 429 `TOO_MANY_REQUESTS` with `retryAfterSec`.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Record, Registrar, RegistrarError, Token, by_status, client, log_answer, send};

#[derive(Debug)]
pub struct GoDaddy {
    http: reqwest::Client,
    base: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Domain {
    #[serde(default)]
    name_servers: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Refusal {
    #[serde(default)]
    retry_after_sec: Option<u64>,
}

impl GoDaddy {
    pub fn new(base: &str, timeout: Duration) -> Self {
        Self {
            http: client(timeout),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    async fn call(
        &self,
        token: &Token,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<bytes::Bytes, RegistrarError> {
        let [key, secret] = token.parts::<2>()?;
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("authorization", format!("sso-key {key}:{secret}"))
            .header("accept", "application/json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answered = send("godaddy", request).await?;
        if answered.status.is_success() {
            return Ok(answered.body);
        }
        log_answer("godaddy", token, answered.status.as_u16(), &answered.body);
        // GoDaddy says when to retry in its body (`retryAfterSec`), before any header.
        let retry_after = serde_json::from_slice::<Refusal>(&answered.body)
            .ok()
            .and_then(|r| r.retry_after_sec)
            .or(answered.retry_after);
        Err(by_status(
            answered.status,
            retry_after,
            "GoDaddy refused the request (see PDM's log)",
        ))
    }

    async fn domain(&self, token: &Token, domain: &str) -> Result<Domain, RegistrarError> {
        let body = self
            .call(token, Method::GET, &format!("/v1/domains/{domain}"), None)
            .await?;
        serde_json::from_slice(&body).map_err(|_| RegistrarError::Unavailable)
    }
}

#[async_trait::async_trait]
impl Registrar for GoDaddy {
    fn name(&self) -> &'static str {
        "godaddy"
    }

    async fn validate(&self, token: &Token, domain: &str) -> Result<(), RegistrarError> {
        self.domain(token, domain).await.map(drop)
    }

    async fn nameservers(
        &self,
        token: &Token,
        domain: &str,
    ) -> Result<Vec<String>, RegistrarError> {
        Ok(self.domain(token, domain).await?.name_servers)
    }

    async fn set_nameservers(
        &self,
        token: &Token,
        domain: &str,
        nameservers: &[String],
    ) -> Result<(), RegistrarError> {
        let body = json!({ "nameServers": nameservers });
        self.call(
            token,
            Method::PATCH,
            &format!("/v1/domains/{domain}"),
            Some(body),
        )
        .await
        .map(drop)
    }

    async fn set_records(
        &self,
        token: &Token,
        domain: &str,
        records: &[Record],
    ) -> Result<(), RegistrarError> {
        // One PUT per name and type replaces exactly that RRset, leaving the rest.
        let mut sets: BTreeMap<(&str, &str), Vec<Value>> = BTreeMap::new();
        for record in records {
            let mut entry = json!({"data": record.value.trim(), "ttl": record.ttl.max(600)});
            if let Some(priority) = record.priority {
                entry["priority"] = json!(priority);
            }
            sets.entry((record.kind.as_str(), record.name.as_str()))
                .or_default()
                .push(entry);
        }
        for ((kind, name), entries) in sets {
            let path = format!("/v1/domains/{domain}/records/{kind}/{name}");
            self.call(token, Method::PUT, &path, Some(Value::Array(entries)))
                .await?;
        }
        Ok(())
    }
}
