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
use crate::scope::{Caller, Scope};

/// The caller when its credentials are accepted and hold `needed`; `None` when no
/// credentials are configured (PDM is open). 403 `insufficient-scope` without the scope.
pub fn authorize(
    tokens: &ApiTokens,
    headers: &HeaderMap,
    needed: Scope,
) -> Result<Option<Caller>, Error> {
    let Some(caller) = authenticate(tokens, headers)? else {
        return Ok(None);
    };
    if !caller.scopes.allow(needed) {
        return Err(Error::InsufficientScope(needed));
    }
    Ok(Some(caller))
}

/// The caller whose credentials are presented; `None` when no credentials are configured.
fn authenticate(tokens: &ApiTokens, headers: &HeaderMap) -> Result<Option<Caller>, Error> {
    if tokens.is_empty() {
        return Ok(None);
    }
    let (scheme, credentials) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(' '))
        .ok_or(Error::Unauthorized)?;
    let credentials = credentials.trim();
    let caller = if scheme.eq_ignore_ascii_case("bearer") {
        tokens.caller_of(credentials)
    } else if scheme.eq_ignore_ascii_case("basic") {
        basic(tokens, credentials)
    } else {
        return Err(Error::Unauthorized);
    };
    let caller = caller.ok_or(Error::InvalidToken)?;
    tracing::debug!(caller = caller.name, "authorized");
    Ok(Some(caller))
}

/// The entry named by the user whose token is the password; `None` for anything else,
/// including a value that is not base64 of UTF-8 `user:password`.
fn basic(tokens: &ApiTokens, credentials: &str) -> Option<Caller> {
    let decoded = STANDARD.decode(credentials).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    tokens
        .caller_of(password)
        .filter(|caller| caller.name == user)
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
        let named = |h: &str| {
            authorize(&tokens, &with(h), Scope::Read)
                .map(|caller| caller.map(|c| c.name))
                .map_err(|e| e.code())
        };
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
            let error = authorize(&tokens, &with(&refused), Scope::Read).unwrap_err();
            assert_eq!(error.status(), http::StatusCode::UNAUTHORIZED, "{refused}");
        }
        assert!(matches!(
            authorize(&tokens, &HeaderMap::new(), Scope::Read),
            Err(Error::Unauthorized)
        ));
        assert!(matches!(
            authorize(&tokens, &with("Digest abc"), Scope::Read),
            Err(Error::Unauthorized)
        ));
    }

    #[test]
    fn a_password_holding_colons_is_read_whole() {
        let tokens = ApiTokens::parse("svc=a:b:c").unwrap();
        let caller = authorize(&tokens, &with(&basic_of("svc:a:b:c")), Scope::Read).unwrap();
        assert_eq!(caller.map(|c| c.name), Some("svc".to_owned()));
    }

    #[test]
    fn a_credential_without_the_routes_scope_is_403_naming_it() {
        let tokens = ApiTokens::parse("catalyst=a,ops=b")
            .unwrap()
            .with_scopes("ops=operate")
            .unwrap();
        let refused = authorize(&tokens, &with("Bearer a"), Scope::Operate).unwrap_err();
        assert_eq!(refused.code(), "insufficient-scope");
        assert!(authorize(&tokens, &with("Bearer a"), Scope::Allocate).is_ok());
        assert!(authorize(&tokens, &with("Bearer b"), Scope::Operate).is_ok());
    }
}
