//! OVHcloud's API (api.ovh.com, v1), with its request signature. The token is
//! `applicationKey:applicationSecret:consumerKey`. Each call carries `X-Ovh-Application`,
//! `X-Ovh-Consumer`, `X-Ovh-Timestamp` (the server's time, from `GET /auth/time`, so a skewed
//! clock cannot break the signature) and `X-Ovh-Signature`: `$1$` and the SHA-1 of
//! `secret+consumer+METHOD+url+body+timestamp`. The domain is read with `GET /domain/{domain}`,
//! its name servers listed with `GET /domain/{domain}/nameServer` (ids, then one per id) and
//! replaced with `POST /domain/{domain}/nameServers/update`; records go through the zone API
//! (`/domain/zone/{zone}/record`, then `POST …/refresh`). Errors are
//! `{"class"|"errorCode", "message"}`: 403 `INVALID_KEY` or `INVALID_CREDENTIAL`, 400
//! `INVALID_SIGNATURE`,
//! 404 `Client::NotFound`, 429 with `Retry-After`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use super::{Record, Registrar, RegistrarError, Token, by_status, client, log_answer, send};

/// The most records of one type at one name that a set-dns replaces; more is refused before
/// any change (each costs a call).
const MAX_STANDING: usize = 10;

#[derive(Debug)]
pub struct Ovh {
    http: reqwest::Client,
    base: String,
}

#[derive(Deserialize)]
struct NameServer {
    host: String,
}

impl Ovh {
    pub fn new(base: &str, timeout: Duration) -> Self {
        Self {
            http: client(timeout),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// The signature OVH expects for this exact request.
    fn signature(
        secret: &str,
        consumer: &str,
        method: &Method,
        url: &str,
        body: &str,
        timestamp: &str,
    ) -> String {
        let signed = format!("{secret}+{consumer}+{method}+{url}+{body}+{timestamp}");
        let digest = Sha1::digest(signed.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("$1${hex}")
    }

    async fn server_time(&self) -> Result<String, RegistrarError> {
        let request = self.http.get(format!("{}/auth/time", self.base));
        let answered = send("ovh", request).await?;
        if !answered.status.is_success() {
            return Err(RegistrarError::Unavailable);
        }
        Ok(String::from_utf8_lossy(&answered.body).trim().to_owned())
    }

    async fn call(
        &self,
        token: &Token,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<bytes::Bytes, RegistrarError> {
        let [application, secret, consumer] = token.parts::<3>()?;
        let url = format!("{}{path}", self.base);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let timestamp = self.server_time().await?;
        let signature = Self::signature(secret, consumer, &method, &url, &body, &timestamp);
        let mut request = self
            .http
            .request(method, &url)
            .header("x-ovh-application", application)
            .header("x-ovh-consumer", consumer)
            .header("x-ovh-timestamp", &timestamp)
            .header("x-ovh-signature", signature);
        if !body.is_empty() {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let answered = send("ovh", request).await?;
        if answered.status.is_success() {
            return Ok(answered.body);
        }
        log_answer("ovh", token, answered.status.as_u16(), &answered.body);
        let answer: Value = serde_json::from_slice(&answered.body).unwrap_or_default();
        let code = answer["errorCode"].as_str().unwrap_or("");
        Err(match answered.status {
            StatusCode::FORBIDDEN
                if matches!(
                    code,
                    "INVALID_KEY" | "INVALID_CREDENTIAL" | "NOT_CREDENTIAL"
                ) =>
            {
                RegistrarError::InvalidToken
            }
            StatusCode::BAD_REQUEST if code == "INVALID_SIGNATURE" => RegistrarError::InvalidToken,
            status => by_status(
                status,
                answered.retry_after,
                "OVHcloud refused the request (see PDM's log)",
            ),
        })
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        token: &Token,
        path: &str,
    ) -> Result<T, RegistrarError> {
        let body = self.call(token, Method::GET, path, None).await?;
        serde_json::from_slice(&body).map_err(|_| RegistrarError::Unavailable)
    }
}

#[async_trait::async_trait]
impl Registrar for Ovh {
    fn name(&self) -> &'static str {
        "ovh"
    }

    async fn validate(&self, token: &Token, domain: &str) -> Result<(), RegistrarError> {
        self.json::<Value>(token, &format!("/domain/{domain}"))
            .await
            .map(drop)
    }

    async fn nameservers(
        &self,
        token: &Token,
        domain: &str,
    ) -> Result<Vec<String>, RegistrarError> {
        let ids: Vec<u64> = self
            .json(token, &format!("/domain/{domain}/nameServer"))
            .await?;
        let mut hosts = Vec::new();
        for id in ids {
            let server: NameServer = self
                .json(token, &format!("/domain/{domain}/nameServer/{id}"))
                .await?;
            hosts.push(server.host);
        }
        Ok(hosts)
    }

    async fn set_nameservers(
        &self,
        token: &Token,
        domain: &str,
        nameservers: &[String],
    ) -> Result<(), RegistrarError> {
        let servers: Vec<Value> = nameservers.iter().map(|ns| json!({"host": ns})).collect();
        let path = format!("/domain/{domain}/nameServers/update");
        self.call(
            token,
            Method::POST,
            &path,
            Some(json!({"nameServers": servers})),
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
        for record in records {
            let sub = if record.name == "@" {
                ""
            } else {
                record.name.as_str()
            };
            let kind = record.kind.as_str();
            let find = format!("/domain/zone/{domain}/record?fieldType={kind}&subDomain={sub}");
            let standing: Vec<u64> = self.json(token, &find).await?;
            if standing.len() > MAX_STANDING {
                return Err(RegistrarError::Refused(
                    "OVHcloud holds too many records at one name to replace them",
                ));
            }
            let target = match record.priority {
                Some(priority) => format!("{priority} {}", record.value.trim()),
                None => record.value.trim().to_owned(),
            };
            let body =
                json!({"fieldType": kind, "subDomain": sub, "target": target, "ttl": record.ttl});
            // The new record first: should OVHcloud refuse it, the customer's stays.
            let path = format!("/domain/zone/{domain}/record");
            self.call(token, Method::POST, &path, Some(body)).await?;
            for id in standing {
                let path = format!("/domain/zone/{domain}/record/{id}");
                self.call(token, Method::DELETE, &path, None).await?;
            }
        }
        let refresh = format!("/domain/zone/{domain}/refresh");
        self.call(token, Method::POST, &refresh, None)
            .await
            .map(drop)
    }
}
