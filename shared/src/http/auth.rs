//! Credentials for guarded routes, in either scheme a client may send (case-insensitive, RFC
//! 9110): `Bearer <token>` (RFC 6750) or `Basic base64(name:token)` (RFC 7617, what
//! catalyst-api sends through its basic-auth ingress). Both name an entry of `PDM_API_TOKENS`
//! and are compared by digest in constant time. No credentials is 401 with both challenges;
//! credentials not accepted (a malformed Basic value included) is 401 `invalid_token`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, header};

use crate::Error;
use crate::config::ApiTokens;

/// The caller's name when its credentials are accepted; `None` when no tokens are configured.
pub fn authorize(tokens: &ApiTokens, headers: &HeaderMap) -> Result<Option<String>, Error> {
    if tokens.is_empty() {
        return Ok(None);
    }
    let (scheme, credentials) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(' '))
        .ok_or(Error::Unauthorized)?;
    let credentials = credentials.trim();
    let name = if scheme.eq_ignore_ascii_case("bearer") {
        tokens.name_of(credentials)
    } else if scheme.eq_ignore_ascii_case("basic") {
        basic(tokens, credentials)
    } else {
        return Err(Error::Unauthorized);
    };
    let name = name.ok_or(Error::InvalidToken)?;
    tracing::debug!(caller = name, "authorized");
    Ok(Some(name.to_owned()))
}

/// The entry named by the user whose token is the password; `None` for anything else,
/// including a value that is not base64 of UTF-8 `user:password`.
fn basic<'t>(tokens: &'t ApiTokens, credentials: &str) -> Option<&'t str> {
    let decoded = STANDARD.decode(credentials).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    tokens.name_of(password).filter(|name| *name == user)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn with(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(authorization).unwrap(),
        );
        headers
    }

    fn basic_of(user_password: &str) -> String {
        format!("Basic {}", STANDARD.encode(user_password))
    }

    #[test]
    fn bearer_and_basic_name_the_same_entry() {
        let tokens = ApiTokens::parse("catalyst=s3cret==,ops=other").unwrap();
        let named = |h: &str| authorize(&tokens, &with(h)).map_err(|e| e.code());
        assert_eq!(named("Bearer s3cret=="), Ok(Some("catalyst".to_owned())));
        assert_eq!(
            named(&basic_of("catalyst:s3cret==")),
            Ok(Some("catalyst".to_owned()))
        );
        assert_eq!(
            named(&basic_of("catalyst:s3cret==").replace("Basic", "bAsIc")),
            Ok(Some("catalyst".to_owned()))
        );
        // Another entry's user with this token, a wrong password, no colon, not base64.
        for refused in [
            basic_of("ops:s3cret=="),
            basic_of("catalyst:other"),
            basic_of("catalyst"),
            "Basic %%%not-base64".to_owned(),
            "Basic".to_owned(),
        ] {
            let error = authorize(&tokens, &with(&refused)).unwrap_err();
            assert_eq!(error.status(), http::StatusCode::UNAUTHORIZED, "{refused}");
        }
        assert!(matches!(
            authorize(&tokens, &HeaderMap::new()),
            Err(Error::Unauthorized)
        ));
        assert!(matches!(
            authorize(&tokens, &with("Digest abc")),
            Err(Error::Unauthorized)
        ));
    }

    #[test]
    fn a_password_holding_colons_is_read_whole() {
        let tokens = ApiTokens::parse("svc=a:b:c").unwrap();
        assert_eq!(
            authorize(&tokens, &with(&basic_of("svc:a:b:c"))).unwrap(),
            Some("svc".to_owned())
        );
    }
}
