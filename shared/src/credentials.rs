//! Who may call: the environment's credentials (`PDM_API_TOKENS`) and those held in the
//! database, made and revoked without a redeploy (`/api/v1/tokens`, `pdm token`). Only SHA-256
//! digests are kept anywhere. Every process reads the stored ones at most every
//! [`FRESH_FOR`], so a revoked or expired credential is refused within 5 s on every replica and
//! function, at one statement per process per interval rather than one per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::Error;
use crate::config::{ApiTokens, digest};
use crate::scope::{Caller, Scopes};
use crate::store::{Store, StoredCredential};

/// How long a process trusts its copy of the stored credentials.
const FRESH_FOR: Duration = Duration::from_secs(4);
/// How often a credential's `lastUsedAt` is written at most.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// The secret's length: 256 bits from the OS's random source.
const SECRET_BYTES: usize = 32;

/// A stored credential as authentication compares it.
#[derive(Clone)]
struct Live {
    name: String,
    digest: Vec<u8>,
    scopes: Scopes,
    quota: Option<u32>,
}

#[derive(Default)]
struct Snapshot {
    read_at: Option<Instant>,
    live: Arc<Vec<Live>>,
}

/// The credentials of this process.
pub struct Credentials {
    env: ApiTokens,
    stored: tokio::sync::Mutex<Snapshot>,
    touched: Mutex<HashMap<String, Instant>>,
}

/// A credential just made: what is listed, and its secret, shown once.
pub struct Created {
    pub credential: StoredCredential,
    pub secret: String,
}

impl Credentials {
    pub fn new(env: ApiTokens) -> Self {
        Self {
            env,
            stored: tokio::sync::Mutex::default(),
            touched: Mutex::default(),
        }
    }

    /// The caller whose secret is `secret` (and, for Basic, whose name is `user`); `Ok(None)`
    /// when no credential matches. `Err(Unavailable)` only when the stored credentials were
    /// never read and cannot be now.
    pub async fn caller_of(
        &self,
        store: &dyn Store,
        user: Option<&str>,
        secret: &str,
    ) -> Result<Option<Caller>, Error> {
        let named = |caller: &Caller| user.is_none_or(|user| user == caller.name);
        if let Some(caller) = self.env.caller_of(secret).filter(named) {
            return Ok(Some(caller));
        }
        let presented = digest(secret);
        let live = self.live(store).await?;
        // Compared with every one, so the time taken does not say which matched.
        let found = live.iter().fold(None, |found, credential| {
            let equal: bool = credential.digest.as_slice().ct_eq(&presented).into();
            found.or(equal.then_some(credential))
        });
        let Some(found) = found else {
            return Ok(None);
        };
        let caller = Caller {
            name: found.name.clone(),
            scopes: found.scopes,
            quota: found.quota.or(self.env.default_quota()),
        };
        if !named(&caller) {
            return Ok(None);
        }
        self.touch(store, &caller.name).await;
        Ok(Some(caller))
    }

    /// Whether no credential is configured anywhere: PDM is open.
    pub async fn none(&self, store: &dyn Store) -> Result<bool, Error> {
        Ok(self.env.is_empty() && self.live(store).await?.is_empty())
    }

    /// Whether `name` is an environment credential's.
    pub fn in_env(&self, name: &str) -> bool {
        self.env.names().any(|known| known == name)
    }

    /// The stored credentials, read again when this process's copy is older than
    /// [`FRESH_FOR`]. While the database does not answer, the last copy stands.
    async fn live(&self, store: &dyn Store) -> Result<Arc<Vec<Live>>, Error> {
        let mut snapshot = self.stored.lock().await;
        if snapshot.read_at.is_some_and(|at| at.elapsed() < FRESH_FOR) {
            return Ok(snapshot.live.clone());
        }
        match store.live_credentials().await {
            Ok(rows) => {
                let live = rows
                    .into_iter()
                    .filter_map(|(name, digest, scopes, quota)| {
                        Some(Live {
                            name,
                            digest,
                            scopes: Scopes::parse(&scopes).ok()?,
                            quota: quota.and_then(|q| u32::try_from(q).ok()),
                        })
                    })
                    .collect();
                *snapshot = Snapshot {
                    read_at: Some(Instant::now()),
                    live: Arc::new(live),
                };
                Ok(snapshot.live.clone())
            }
            Err(error) if snapshot.read_at.is_some() => {
                tracing::warn!(error.message = %error, "stored credentials not read; the last copy stands");
                Ok(snapshot.live.clone())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Writes `lastUsedAt`, at most once a minute per credential and process.
    async fn touch(&self, store: &dyn Store, name: &str) {
        {
            let mut touched = self
                .touched
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if touched
                .get(name)
                .is_some_and(|at| at.elapsed() < TOUCH_EVERY)
            {
                return;
            }
            touched.insert(name.to_owned(), Instant::now());
        }
        if let Err(error) = store.touch_credential(name).await {
            tracing::warn!(error.message = %error, "lastUsedAt not written");
        }
    }

    /// Makes a credential: a name of `[A-Za-z0-9_.-]` (at most 64, not an environment
    /// credential's), scopes, an optional quota and expiry. Its secret is returned once and
    /// only its digest is stored.
    pub async fn create(
        &self,
        store: &dyn Store,
        name: &str,
        scopes: &[String],
        (quota, expires_at): (Option<u32>, Option<OffsetDateTime>),
    ) -> Result<Created, Error> {
        let is_word = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !is_word {
            return Err(Error::InvalidFormat(
                "name must be 1 to 64 letters, digits, '_', '.' or '-'".to_owned(),
            ));
        }
        let scopes = Scopes::parse(&scopes.join("+")).map_err(Error::InvalidFormat)?;
        if expires_at.is_some_and(|at| at <= OffsetDateTime::now_utc()) {
            return Err(Error::InvalidFormat("expiresAt is in the past".to_owned()));
        }
        let quota = match quota {
            None => None,
            Some(quota) => Some(
                i32::try_from(quota)
                    .ok()
                    .filter(|q| *q > 0)
                    .ok_or_else(|| Error::InvalidFormat("quota must be above 0".to_owned()))?,
            ),
        };
        if self.in_env(name) {
            return Err(Error::NameTaken(name.to_owned()));
        }
        let secret = new_secret()?;
        let scopes = format!("{scopes:?}");
        let credential = store
            .create_credential(name, &digest(&secret), &scopes, (quota, expires_at))
            .await?
            .ok_or_else(|| Error::NameTaken(name.to_owned()))?;
        self.stored.lock().await.read_at = None;
        tracing::info!(name, scopes, "credential created");
        Ok(Created { credential, secret })
    }

    /// Revokes a stored credential; `not-found` when there is none by that name.
    pub async fn revoke(&self, store: &dyn Store, name: &str) -> Result<(), Error> {
        if !store.revoke_credential(name).await? {
            return Err(Error::NotFound);
        }
        self.stored.lock().await.read_at = None;
        tracing::info!(name, "credential revoked");
        Ok(())
    }
}

/// `pdm_` and 256 random bits, URL-safe.
fn new_secret() -> Result<String, Error> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("no random bytes from the OS: {e}")))?;
    Ok(format!("pdm_{}", URL_SAFE_NO_PAD.encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_url_safe() {
        let (a, b) = (new_secret().unwrap(), new_secret().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 43);
        assert!(
            a[4..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }
}
