//! Secrets from AWS Secrets Manager, for the functions on Lambda: with `PDM_SECRET_ID` set,
//! the database URL, the DNS providers' keys and the API tokens are read once per cold start
//! from that secret (a JSON object of those variables), so none of them is a plain
//! environment variable of the function. Without it nothing here runs (Kubernetes passes a
//! Secret through the environment).
//!
//! Errors name the secret and what is wrong with it, never a value: the secret's text can
//! reach no log, since serde's own messages (which quote what they read) are not used.

use std::collections::HashMap;

use aws_config::environment::{
    EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
};
use aws_config::meta::region::ProvideRegion;
use aws_sdk_secretsmanager::config::BehaviorVersion;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

/// The variable naming the secret (an ARN or a name).
pub const SECRET_ID: &str = "PDM_SECRET_ID";

/// The variables a secret may hold: every secret PDM has, and nothing else.
pub const SECRET_KEYS: [&str; 4] = [
    "PDM_DATABASE_URL",
    "DYNADOT_API_KEY",
    "PDNS_API_KEY",
    "PDM_API_TOKENS",
];

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {0} does not exist or has no current value")]
    NotFound(String),
    #[error(
        "reading secret {0} was denied (the function's role needs secretsmanager:GetSecretValue on it)"
    )]
    Denied(String),
    #[error("secret {0} is malformed: {1}")]
    Malformed(String, String),
    #[error("secret {0} could not be read: {1}")]
    Unreadable(String, String),
}

/// The variables the secret `id` holds.
pub async fn load(id: &str) -> Result<HashMap<String, String>, SecretError> {
    let answer = client()
        .await
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|error| classify(id, error.into_service_error()))?;
    let text = answer.secret_string().ok_or_else(|| {
        SecretError::Malformed(id.to_owned(), "it holds no text (SecretString)".to_owned())
    })?;
    parse(id, text)
}

/// How long one Secrets Manager call may take.
const SECRETS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A Secrets Manager client configured from the environment alone, as Lambda sets it up:
/// credentials and region from aws-config's environment providers, and
/// `AWS_ENDPOINT_URL_SECRETS_MANAGER` or `AWS_ENDPOINT_URL` when set. Not aws-config's whole
/// default chain (profiles, SSO, STS, IMDS, ECS): a Lambda function never needs it, and it
/// would more than double what reading one secret adds to every binary.
async fn client() -> aws_sdk_secretsmanager::Client {
    // Like every outbound call of PDM's: a deadline, no redirect, an answer read up to a cap.
    let http_client = Reqwest(
        pdm_core::outbound::client(SECRETS_TIMEOUT, reqwest::header::HeaderMap::new())
            .unwrap_or_default(),
    );
    let region = EnvironmentVariableRegionProvider::new().region().await;
    let mut config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http_client)
        .credentials_provider(EnvironmentVariableCredentialsProvider::new())
        .region(region);
    let endpoint = ["AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL"]
        .into_iter()
        .find_map(|name| {
            std::env::var(name)
                .ok()
                .filter(|url| !url.trim().is_empty())
        });
    if let Some(url) = endpoint {
        config = config.endpoint_url(url.trim());
    }
    aws_sdk_secretsmanager::Client::from_conf(config.build())
}

/// The SDK's HTTP over reqwest, the client every PDM binary has already: one request and
/// its whole answer (a secret is small), no second HTTP and TLS stack.
#[derive(Debug, Clone)]
struct Reqwest(reqwest::Client);

impl HttpClient for Reqwest {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl HttpConnector for Reqwest {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.0.clone();
        HttpConnectorFuture::new(async move {
            let (parts, body) = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(e.into()))?
                .into_parts();
            let body = body
                .bytes()
                .map(bytes::Bytes::copy_from_slice)
                .unwrap_or_default();
            let answer = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| ConnectorError::io(e.without_url().into()))?;
            let mut response = http::Response::builder().status(answer.status());
            if let Some(headers) = response.headers_mut() {
                *headers = answer.headers().clone();
            }
            let body = pdm_core::outbound::read_capped(answer)
                .await
                .map_err(|e| ConnectorError::io(e.into()))?;
            let response = response
                .body(SdkBody::from(body))
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            HttpResponse::try_from(response).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

fn classify(id: &str, error: GetSecretValueError) -> SecretError {
    use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
    match error.code() {
        _ if error.is_resource_not_found_exception() => SecretError::NotFound(id.to_owned()),
        Some("AccessDeniedException" | "AccessDenied") => SecretError::Denied(id.to_owned()),
        // Codes and SDK error kinds carry no secret; the message of a service error might
        // echo the request, which names only the secret.
        code => SecretError::Unreadable(
            id.to_owned(),
            code.map_or_else(|| error.to_string(), str::to_owned),
        ),
    }
}

/// A JSON object whose keys are [`SECRET_KEYS`] and whose values are strings.
fn parse(id: &str, text: &str) -> Result<HashMap<String, String>, SecretError> {
    let malformed = |why: String| SecretError::Malformed(id.to_owned(), why);
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|_| malformed("it is not a JSON object".to_owned()))?;
    let mut variables = HashMap::new();
    for (key, value) in object {
        if !SECRET_KEYS.contains(&key.as_str()) {
            // A key is named only when it looks like a variable name, not like a value
            // pasted in the wrong place.
            let shown = if looks_like_a_variable(&key) {
                key.as_str()
            } else {
                "a key"
            };
            return Err(malformed(format!(
                "{shown} is not one of {}",
                SECRET_KEYS.join(", ")
            )));
        }
        let serde_json::Value::String(value) = value else {
            return Err(malformed(format!("{key} is not a string")));
        };
        variables.insert(key, value);
    }
    Ok(variables)
}

fn looks_like_a_variable(key: &str) -> bool {
    key.len() <= 64
        && key.starts_with(|c: char| c.is_ascii_uppercase())
        && key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_an_object_of_pdms_secret_variables() {
        let parsed = parse(
            "pdm",
            r#"{"PDM_DATABASE_URL":"postgres://u:hunter2@db/pdm","PDM_API_TOKENS":"a=b"}"#,
        )
        .unwrap();
        assert_eq!(parsed["PDM_DATABASE_URL"], "postgres://u:hunter2@db/pdm");
        assert_eq!(parsed.len(), 2);
    }

    #[test]
    fn a_malformed_secret_is_named_without_its_value() {
        for text in [
            "hunter2",
            r#"{"PDM_DATABASE_URL": 5, "x": "hunter2"}"#,
            r#"{"PDM_DATABASE_URL": ["hunter2"]}"#,
            r#"{"DATABASE_URL": "hunter2"}"#,
            r#"["hunter2"]"#,
            r#"{"hunter2": "PDM_API_TOKENS"}"#,
        ] {
            let error = parse("arn:aws:secretsmanager:eu-central-1:1:secret:pdm", text)
                .unwrap_err()
                .to_string();
            assert!(error.contains("secret arn:aws:secretsmanager"), "{error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
    }
}
