//! Bearer auth (RFC 6750) for guarded routes: the scheme is case-insensitive (RFC 9110), no
//! token is 401 `WWW-Authenticate: Bearer`, an unknown one 401 with `error="invalid_token"`.

use http::{HeaderMap, header};

use crate::Error;
use crate::config::ApiTokens;

/// The caller's name when its token is accepted; `None` when no tokens are configured.
pub fn authorize(tokens: &ApiTokens, headers: &HeaderMap) -> Result<Option<String>, Error> {
    if tokens.is_empty() {
        return Ok(None);
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim_start().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or(Error::Unauthorized)?;
    let name = tokens.name_of(presented).ok_or(Error::InvalidToken)?;
    tracing::debug!(caller = name, "authorized");
    Ok(Some(name.to_owned()))
}
