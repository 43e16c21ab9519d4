//! Dynadot's api3 (dynadot.com/domain/api3.html) for a customer's own domain: the customer's
//! api3 key, in the `key` parameter as api3 wants it (so no URL of these calls is ever
//! logged). `domain_info` validates and reads the name servers; `set_ns` (`ns0`..`ns12`) takes
//! only name servers registered in the account, so each is `add_ns`-ed first (one already
//! there is fine); records go through `get_dns` and a `set_dns2` of the whole zone, which
//! replaces everything, so every record beside the ones written is sent back as it came.
//! Answers are JSON at HTTP 200, `{"<Command>Response": {"ResponseCode", "Status", "Error"}}`.

use std::time::Duration;

use serde_json::Value;

use super::{Answered, Record, RecordType, Registrar, RegistrarError, Token, client, send};
use crate::dns::dynadot::{Api3Failure, Record as ZoneRecord, Zone, inner_answer, is_passing};

#[derive(Debug)]
pub struct Dynadot {
    http: reqwest::Client,
    url: String,
}

impl Dynadot {
    pub fn new(url: &str, timeout: Duration) -> Self {
        Self {
            http: client(timeout),
            url: url.to_owned(),
        }
    }

    async fn call(
        &self,
        token: &Token,
        command: &str,
        params: &[(String, String)],
        answer: &str,
    ) -> Result<Value, RegistrarError> {
        let request = self
            .http
            .get(&self.url)
            .query(&[("key", token.expose()), ("command", command)])
            .query(params);
        let Answered { status, body, .. } = send("dynadot", request).await?;
        if !status.is_success() {
            super::log_answer("dynadot", token, status.as_u16(), &body);
            return Err(if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                RegistrarError::RateLimited { retry_after: None }
            } else {
                RegistrarError::Unavailable
            });
        }
        let json: Value = serde_json::from_slice(&body).map_err(|_| RegistrarError::Unavailable)?;
        match inner_answer(&json, answer) {
            Ok(inner) => Ok(inner.clone()),
            Err(Api3Failure::Malformed(_)) => Err(RegistrarError::Unavailable),
            Err(Api3Failure::Error(message)) => {
                super::log_answer("dynadot", token, status.as_u16(), &body);
                Err(classify(&message))
            }
        }
    }

    fn domain(domain: &str) -> Vec<(String, String)> {
        vec![("domain".to_owned(), domain.to_owned())]
    }
}

/// api3 says what went wrong in words only; which failures pass is PDM's own DNS side's
/// reading of the same API.
fn classify(message: &str) -> RegistrarError {
    let message = message.to_ascii_lowercase();
    if message.contains("invalid key") || message.contains("key is not") {
        RegistrarError::InvalidToken
    } else if message.contains("not found")
        || message.contains("could not find")
        || message.contains("not in your account")
    {
        RegistrarError::DomainNotInAccount
    } else if message.contains("too many") || message.contains("concurrent") {
        RegistrarError::RateLimited { retry_after: None }
    } else if is_passing(&message) {
        RegistrarError::Unavailable
    } else {
        RegistrarError::Refused("Dynadot refused the request (see PDM's log)")
    }
}

#[async_trait::async_trait]
impl Registrar for Dynadot {
    fn name(&self) -> &'static str {
        "dynadot"
    }

    async fn validate(&self, token: &Token, domain: &str) -> Result<(), RegistrarError> {
        self.nameservers(token, domain).await.map(drop)
    }

    async fn nameservers(
        &self,
        token: &Token,
        domain: &str,
    ) -> Result<Vec<String>, RegistrarError> {
        let info = self
            .call(
                token,
                "domain_info",
                &Self::domain(domain),
                "DomainInfoResponse",
            )
            .await?;
        let servers = &info["DomainInfo"]["NameServerSettings"]["NameServers"];
        Ok(servers
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|server| server["ServerName"].as_str())
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect())
    }

    async fn set_nameservers(
        &self,
        token: &Token,
        domain: &str,
        nameservers: &[String],
    ) -> Result<(), RegistrarError> {
        for host in nameservers {
            let params = vec![("host".to_owned(), host.clone())];
            match self.call(token, "add_ns", &params, "AddNsResponse").await {
                Ok(_) => {}
                // Registered before: what set_ns needs.
                Err(RegistrarError::Refused(_)) => {}
                Err(error) => return Err(error),
            }
        }
        let mut params = Self::domain(domain);
        params.extend(
            nameservers
                .iter()
                .take(13)
                .enumerate()
                .map(|(i, host)| (format!("ns{i}"), host.clone())),
        );
        self.call(token, "set_ns", &params, "SetNsResponse")
            .await
            .map(drop)
    }

    async fn set_records(
        &self,
        token: &Token,
        domain: &str,
        records: &[Record],
    ) -> Result<(), RegistrarError> {
        let answer = self
            .call(token, "get_dns", &Self::domain(domain), "GetDnsResponse")
            .await?;
        let mut zone = Zone::from_get_dns(&answer).map_err(|_| RegistrarError::Unavailable)?;
        for record in records {
            let kind = record.kind.as_str();
            let written = ZoneRecord {
                subhost: (record.name != "@").then(|| record.name.clone()),
                record_type: kind.to_ascii_lowercase(),
                value: record.value.trim().to_owned(),
                value2: (record.kind == RecordType::Mx)
                    .then(|| record.priority.unwrap_or(10).to_string()),
            };
            let list = if written.subhost.is_some() {
                &mut zone.sub
            } else {
                &mut zone.main
            };
            list.retain(|r| {
                !(r.subhost == written.subhost && r.record_type.eq_ignore_ascii_case(kind))
            });
            list.push(written);
        }
        // `call` names the command itself.
        let params: Vec<(String, String)> = zone
            .set_dns2_query(domain)
            .into_iter()
            .filter(|(name, _)| name != "command")
            .collect();
        self.call(token, "set_dns2", &params, "SetDnsResponse")
            .await
            .map(drop)
    }
}
