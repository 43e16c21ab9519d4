//! Credentials for guarded routes, in either scheme a client may send (case-insensitive, RFC
//! 9110): `Bearer <token>` (RFC 6750) or `Basic base64(name:token)` (RFC 7617, what
//! catalyst-api sends through its basic-auth ingress). Both name an entry of `PDM_API_TOKENS`
//! and are compared by digest in constant time. No credentials is 401 with both challenges;
//! credentials not accepted (a malformed Basic value included) is 401 `invalid_token`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, header};

use crate::Error;
use crate::credentials::Credentials;
use crate::scope::{Caller, Scope};
use crate::store::Store;

/// The caller when its credentials are accepted and hold `needed`; `None` when no
/// credentials are configured (PDM is open). 403 `insufficient-scope` without the scope.
pub async fn authorize(
    credentials: &Credentials,
    store: &dyn Store,
    headers: &HeaderMap,
    needed: Scope,
) -> Result<Option<Caller>, Error> {
    if credentials.none(store).await? {
        return Ok(None);
    }
    let (scheme, presented) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(' '))
        .ok_or(Error::Unauthorized)?;
    let presented = presented.trim();
    let caller = if scheme.eq_ignore_ascii_case("bearer") {
        credentials.caller_of(store, None, presented).await?
    } else if scheme.eq_ignore_ascii_case("basic") {
        match basic(presented) {
            Some((user, secret)) => credentials.caller_of(store, Some(&user), &secret).await?,
            None => None,
        }
    } else {
        return Err(Error::Unauthorized);
    };
    let caller = caller.ok_or(Error::InvalidToken)?;
    tracing::debug!(caller = caller.name, "authorized");
    if !caller.scopes.allow(needed) {
        return Err(Error::InsufficientScope(needed));
    }
    Ok(Some(caller))
}

/// The user and password of a Basic value: base64 of UTF-8 `user:password`.
fn basic(presented: &str) -> Option<(String, String)> {
    let decoded = String::from_utf8(STANDARD.decode(presented).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;
    use crate::config::ApiTokens;

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

    /// An embedded store of its own (no stored credentials), and its file, removed after.
    async fn empty_store() -> (crate::store::SqliteStore, tempfile_path::Removed) {
        let path = std::env::temp_dir().join(format!("pdm-auth-{}.sqlite", uuid::Uuid::new_v4()));
        let store = crate::store::SqliteStore::new(crate::connect_sqlite(&path, 1));
        crate::store::SharedQueries::migrate(&store).await.unwrap();
        (store, tempfile_path::Removed(path))
    }

    mod tempfile_path {
        pub struct Removed(pub std::path::PathBuf);
        impl Drop for Removed {
            fn drop(&mut self) {
                for suffix in ["", "-wal", "-shm"] {
                    let mut path = self.0.clone().into_os_string();
                    path.push(suffix);
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    }

    async fn named(
        credentials: &Credentials,
        header: &str,
        needed: Scope,
    ) -> Result<Option<String>, &'static str> {
        let (store, _file) = empty_store().await;
        authorize(credentials, &store, &with(header), needed)
            .await
            .map(|caller| caller.map(|c| c.name))
            .map_err(|e| e.code())
    }

    #[tokio::test]
    async fn bearer_and_basic_name_the_same_entry() {
        let credentials =
            Credentials::new(ApiTokens::parse("catalyst=s3cret==,ops=other").unwrap());
        let catalyst = Ok(Some("catalyst".to_owned()));
        for accepted in [
            "Bearer s3cret==".to_owned(),
            basic_of("catalyst:s3cret=="),
            basic_of("catalyst:s3cret==").replace("Basic", "bAsIc"),
        ] {
            assert_eq!(
                named(&credentials, &accepted, Scope::Read).await,
                catalyst,
                "{accepted}"
            );
        }
        // Another entry's user with this token, a wrong password, no colon, not base64.
        for refused in [
            basic_of("ops:s3cret=="),
            basic_of("catalyst:other"),
            basic_of("catalyst"),
            "Basic %%%not-base64".to_owned(),
            "Basic".to_owned(),
            "Digest abc".to_owned(),
        ] {
            assert_eq!(
                named(&credentials, &refused, Scope::Read).await,
                Err("unauthorized"),
                "{refused}"
            );
        }
    }

    #[tokio::test]
    async fn a_password_holding_colons_is_read_whole() {
        let credentials = Credentials::new(ApiTokens::parse("svc=a:b:c").unwrap());
        let caller = named(&credentials, &basic_of("svc:a:b:c"), Scope::Read).await;
        assert_eq!(caller, Ok(Some("svc".to_owned())));
    }

    #[tokio::test]
    async fn a_credential_without_the_routes_scope_is_403_naming_it() {
        let tokens = ApiTokens::parse("catalyst=a,ops=b")
            .unwrap()
            .with_scopes("ops=operate")
            .unwrap();
        let credentials = Credentials::new(tokens);
        let refused = named(&credentials, "Bearer a", Scope::Operate).await;
        assert_eq!(refused, Err("insufficient-scope"));
        assert!(
            named(&credentials, "Bearer a", Scope::Allocate)
                .await
                .is_ok()
        );
        assert!(
            named(&credentials, "Bearer b", Scope::Operate)
                .await
                .is_ok()
        );
    }
}
