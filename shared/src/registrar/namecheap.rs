//! Namecheap's XML API (namecheap.com/support/api). Every call is one request to
//! `xml.response` with the global parameters `ApiUser`, `ApiKey`, `UserName`, `ClientIp` (the
//! address Namecheap has whitelisted for the account: PDM's egress, `NAMECHEAP_CLIENT_IP`) and
//! `Command`; the token is `apiuser:apikey`. Answers are `<ApiResponse Status="OK|ERROR">`
//! with `<Errors><Error Number="…">` at HTTP 200. Commands used:
//! `namecheap.domains.dns.getList` (validates, and reads the name servers),
//! `namecheap.domains.dns.setCustom` (`NameServers=a,b`), and `…dns.getHosts` then
//! `…dns.setHosts`, which replaces every host record, so PDM sends back what stood beside the
//! records it writes.

use std::time::Duration;

use reqwest::StatusCode;

use super::{Record, Registrar, RegistrarError, Token, client, log_answer, send};

#[derive(Debug)]
pub struct Namecheap {
    http: reqwest::Client,
    url: String,
    client_ip: String,
}

/// Error numbers that mean the credentials (or the whitelisted address) are refused.
const CREDENTIAL_ERRORS: [&str; 9] = [
    "1010101", "1010102", "1011102", "1050900", "1011150", "1017150", "1017101", "1016103",
    "1017103",
];
/// "Domain not found", "Domain is not associated with your account".
const NOT_IN_ACCOUNT: [&str; 2] = ["2019166", "2016166"];

/// One host record as `getHosts` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Host {
    name: String,
    kind: String,
    address: String,
    mx_pref: String,
    ttl: String,
}

impl Namecheap {
    pub fn new(url: &str, client_ip: &str, timeout: Duration) -> Self {
        Self {
            http: client(timeout),
            url: url.to_owned(),
            client_ip: client_ip.to_owned(),
        }
    }

    /// Runs `command` with `params` (sent as a form: `setHosts` may carry many hosts); the
    /// parsed answer's text when it says OK.
    async fn call(
        &self,
        token: &Token,
        command: &str,
        params: &[(String, String)],
    ) -> Result<String, RegistrarError> {
        let [user, key] = token.parts::<2>()?;
        let mut form = vec![
            ("ApiUser".to_owned(), user.to_owned()),
            ("ApiKey".to_owned(), key.to_owned()),
            ("UserName".to_owned(), user.to_owned()),
            ("ClientIp".to_owned(), self.client_ip.clone()),
            ("Command".to_owned(), command.to_owned()),
        ];
        form.extend_from_slice(params);
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&form)
            .finish();
        let request = self
            .http
            .post(&self.url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        let answered = send("namecheap", request).await?;
        let status = answered.status;
        let text = String::from_utf8_lossy(&answered.body).into_owned();
        if status == StatusCode::TOO_MANY_REQUESTS {
            log_answer("namecheap", token, status.as_u16(), text.as_bytes());
            return Err(RegistrarError::RateLimited { retry_after: None });
        }
        if !status.is_success() {
            log_answer("namecheap", token, status.as_u16(), text.as_bytes());
            return Err(RegistrarError::Unavailable);
        }
        let document =
            roxmltree::Document::parse(&text).map_err(|_| RegistrarError::Unavailable)?;
        let root = document.root_element();
        if root.attribute("Status") == Some("OK") {
            return Ok(text);
        }
        log_answer("namecheap", token, status.as_u16(), text.as_bytes());
        let error = root.descendants().find(|node| node.has_tag_name("Error"));
        let number = error.and_then(|e| e.attribute("Number")).unwrap_or("");
        let message = error
            .and_then(|e| e.text())
            .unwrap_or("")
            .to_ascii_lowercase();
        Err(if CREDENTIAL_ERRORS.contains(&number) {
            RegistrarError::InvalidToken
        } else if NOT_IN_ACCOUNT.contains(&number) {
            RegistrarError::DomainNotInAccount
        } else if message.contains("too many requests") {
            RegistrarError::RateLimited { retry_after: None }
        } else if number.starts_with('3') || number.starts_with('5') {
            // 3xxxxxx: the upstream registry; 5xxxxxx: Namecheap's own failures.
            RegistrarError::Unavailable
        } else {
            RegistrarError::Refused("Namecheap refused the request (see PDM's log)")
        })
    }

    /// `command` for `domain`, its answer read by `read`.
    async fn read<T>(
        &self,
        token: &Token,
        command: &str,
        domain: &str,
        read: impl Fn(&roxmltree::Document) -> T,
    ) -> Result<T, RegistrarError> {
        let text = self.call(token, command, &domain_params(domain)).await?;
        let document =
            roxmltree::Document::parse(&text).map_err(|_| RegistrarError::Unavailable)?;
        Ok(read(&document))
    }

    async fn listed_nameservers(
        &self,
        token: &Token,
        domain: &str,
    ) -> Result<Vec<String>, RegistrarError> {
        self.read(token, "namecheap.domains.dns.getList", domain, |document| {
            document
                .descendants()
                .filter(|node| node.has_tag_name("Nameserver"))
                .filter_map(|node| node.text())
                .map(str::to_owned)
                .collect()
        })
        .await
    }

    async fn hosts(&self, token: &Token, domain: &str) -> Result<Vec<Host>, RegistrarError> {
        self.read(
            token,
            "namecheap.domains.dns.getHosts",
            domain,
            |document| {
                document
                    .descendants()
                    .filter(|node| node.has_tag_name("host"))
                    .map(|node| {
                        let attribute = |name: &str| node.attribute(name).unwrap_or("").to_owned();
                        Host {
                            name: attribute("Name"),
                            kind: attribute("Type"),
                            address: attribute("Address"),
                            mx_pref: attribute("MXPref"),
                            ttl: attribute("TTL"),
                        }
                    })
                    .collect()
            },
        )
        .await
    }
}

/// `SLD` and `TLD` as Namecheap splits a domain: its first label, and the rest (`co.uk`).
fn domain_params(domain: &str) -> Vec<(String, String)> {
    let (sld, tld) = domain.split_once('.').unwrap_or((domain, ""));
    vec![
        ("SLD".to_owned(), sld.to_owned()),
        ("TLD".to_owned(), tld.to_owned()),
    ]
}

#[async_trait::async_trait]
impl Registrar for Namecheap {
    fn name(&self) -> &'static str {
        "namecheap"
    }

    async fn validate(&self, token: &Token, domain: &str) -> Result<(), RegistrarError> {
        self.listed_nameservers(token, domain).await.map(drop)
    }

    async fn nameservers(
        &self,
        token: &Token,
        domain: &str,
    ) -> Result<Vec<String>, RegistrarError> {
        self.listed_nameservers(token, domain).await
    }

    async fn set_nameservers(
        &self,
        token: &Token,
        domain: &str,
        nameservers: &[String],
    ) -> Result<(), RegistrarError> {
        let mut params = domain_params(domain);
        params.push(("NameServers".to_owned(), nameservers.join(",")));
        self.call(token, "namecheap.domains.dns.setCustom", &params)
            .await
            .map(drop)
    }

    async fn set_records(
        &self,
        token: &Token,
        domain: &str,
        records: &[Record],
    ) -> Result<(), RegistrarError> {
        // setHosts replaces every host: keep what stands beside the records written.
        let mut hosts: Vec<Host> = self
            .hosts(token, domain)
            .await?
            .into_iter()
            .filter(|host| {
                !records
                    .iter()
                    .any(|r| r.name == host.name && r.kind.as_str() == host.kind)
            })
            .collect();
        hosts.extend(records.iter().map(|record| Host {
            name: record.name.clone(),
            kind: record.kind.as_str().to_owned(),
            address: record.value.trim().to_owned(),
            mx_pref: record.priority.unwrap_or(10).to_string(),
            ttl: record.ttl.clamp(60, 60_000).to_string(),
        }));
        let mut params = domain_params(domain);
        for (i, host) in hosts.iter().enumerate() {
            let n = i + 1;
            params.extend([
                (format!("HostName{n}"), host.name.clone()),
                (format!("RecordType{n}"), host.kind.clone()),
                (format!("Address{n}"), host.address.clone()),
                (format!("MXPref{n}"), host.mx_pref.clone()),
                (format!("TTL{n}"), host.ttl.clone()),
            ]);
        }
        self.call(token, "namecheap.domains.dns.setHosts", &params)
            .await
            .map(drop)
    }
}
