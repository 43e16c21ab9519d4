//! The only place that knows status codes: every [`Error`] becomes `{"error","detail"}`.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use serde::Serialize;

use crate::Error;
use crate::registrar::RegistrarError;
use crate::service::DnsSync;

pub type HttpResponse = Response<Full<Bytes>>;

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::InvalidFormat(_)
            | Self::UnsupportedPool(_)
            | Self::Reserved(_)
            | Self::MissingLbIp(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Conflict
            | Self::PoolFull(_)
            | Self::DnsConflict(_)
            | Self::AlreadyActive
            | Self::NameTaken(_) => StatusCode::CONFLICT,
            Self::TokenMismatch
            | Self::InsufficientScope(_)
            | Self::NotOwner
            | Self::PoolFrozen(_)
            | Self::QuotaExceeded { .. } => StatusCode::FORBIDDEN,
            Self::NotFound | Self::NoRoute(_) | Self::NotManaged(_) => StatusCode::NOT_FOUND,
            Self::ConfirmationRequired => StatusCode::UNAUTHORIZED,
            Self::GraceNotElapsed(_) | Self::StillResolves(_) | Self::LivenessUnknown(_) => {
                StatusCode::PRECONDITION_FAILED
            }
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Expired => StatusCode::GONE,
            Self::Unauthorized | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable(..) | Self::Overloaded | Self::Timeout(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::UnsupportedRegistrar(..) => StatusCode::NOT_FOUND,
            Self::Registrar(error) => match error {
                RegistrarError::InvalidToken => StatusCode::UNAUTHORIZED,
                RegistrarError::DomainNotInAccount => StatusCode::FORBIDDEN,
                RegistrarError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                RegistrarError::Unavailable => StatusCode::BAD_GATEWAY,
                RegistrarError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
                RegistrarError::SetDnsNotSupported(_) | RegistrarError::SetNsNotSupported(_) => {
                    StatusCode::NOT_IMPLEMENTED
                }
            },
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    detail: &'a str,
    /// Fields a client acts on, beside the text (`allowedAt`, `supported`).
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

impl Error {
    /// What the error body carries beyond `error` and `detail`.
    fn extra(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut extra = serde_json::Map::new();
        match self {
            Self::GraceNotElapsed(allowed_at) => {
                extra.insert("allowedAt".to_owned(), allowed_at.clone().into());
            }
            Self::QuotaExceeded { limit, live } => {
                extra.insert("limit".to_owned(), (*limit).into());
                extra.insert("count".to_owned(), (*live).into());
            }
            Self::UnsupportedRegistrar(_, supported) => {
                extra.insert("supported".to_owned(), supported.clone().into());
            }
            _ => {}
        }
        extra
    }
}

/// The contract's error response. Server-side failures are logged here, once, with their
/// chain; the client gets only the generic text.
pub fn error(error: &Error) -> HttpResponse {
    match error {
        Error::Unexpected(cause) => {
            tracing::error!(error.cause_chain = ?cause, error.message = %cause, "request failed");
        }
        Error::Unavailable(what, cause) => {
            tracing::warn!(error.message = %cause, "{what} is unavailable");
        }
        _ => {}
    }
    let mut response = json(
        error.status(),
        &ErrorBody {
            error: error.code(),
            detail: &error.to_string(),
            extra: error.extra(),
        },
    );
    response.extensions_mut().insert(ErrorCode(error.code()));
    let headers = response.headers_mut();
    match error {
        Error::MethodNotAllowed(allowed) => {
            if let Ok(value) = HeaderValue::from_str(allowed.as_str()) {
                headers.insert(header::ALLOW, value);
            }
        }
        Error::Unauthorized => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="pdm", Basic realm="pdm""#),
            );
        }
        // RFC 6750: a token was presented and is not accepted.
        Error::InvalidToken => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    r#"Bearer realm="pdm", error="invalid_token", Basic realm="pdm""#,
                ),
            );
        }
        // RFC 6750 §3.1: the token is fine, the scope is not.
        Error::InsufficientScope(scope) => {
            let challenge =
                format!(r#"Bearer realm="pdm", error="insufficient_scope", scope="{scope}""#);
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
        }
        Error::Unavailable(..) | Error::Overloaded | Error::Timeout(_) => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        Error::RateLimited { retry_after, .. } => {
            if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
                headers.insert(header::RETRY_AFTER, value);
            }
        }
        Error::Registrar(RegistrarError::RateLimited { retry_after }) => {
            let seconds = retry_after.unwrap_or(60).to_string();
            if let Ok(value) = HeaderValue::from_str(&seconds) {
                headers.insert(header::RETRY_AFTER, value);
            }
        }
        _ => {}
    }
    response
}

/// The error code of a refused request, for the access log.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

/// 200 once DNS matches the table, 202 while the change is still owed.
pub fn sync_status(sync: &DnsSync) -> StatusCode {
    match sync {
        DnsSync::Written => StatusCode::OK,
        // A refused commit answers its error before any status is chosen; only a publish can
        // be refused, so a release never is.
        DnsSync::Pending | DnsSync::Refused(_) => StatusCode::ACCEPTED,
    }
}

/// A JSON response. Serializing our own plain structs cannot fail; if it ever did, the client
/// still gets valid JSON.
pub fn json(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|e| {
        tracing::error!(error.message = %e, "response did not serialize");
        br#"{"error":"internal","detail":"internal error"}"#.to_vec()
    });
    bytes_with_type(status, "application/json", bytes)
}

/// A response of `content_type` carrying `body`.
pub fn bytes_with_type(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> HttpResponse {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
