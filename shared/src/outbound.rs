//! Every call PDM makes to another service (DNS providers, registrars) goes through a client
//! from here: a whole-request deadline, no redirect followed (a redirect would carry the
//! provider's key or the customer's token to whatever host it names), few idle connections
//! kept, and answers read up to a cap, so a hostile or broken upstream costs bounded memory.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

/// The most of one answer PDM reads. Providers' largest real answers (a whole zone) are tens
/// of kilobytes.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Connections kept idle per upstream host between calls.
const IDLE_PER_HOST: usize = 4;

/// A client with `timeout` for each whole request and `headers` on every request.
pub fn client(
    timeout: Duration,
    headers: reqwest::header::HeaderMap,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(IDLE_PER_HOST)
        .pool_idle_timeout(Duration::from_secs(30))
        .default_headers(headers)
        .build()
}

/// Why an answer was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the answer is larger than {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
    #[error("the answer broke off: {0}")]
    Transport(#[source] reqwest::Error),
}

/// The body of `response`, refused as soon as it passes [`MAX_ANSWER_BYTES`] (a declared
/// length is checked before any of it is read).
pub async fn read_capped(mut response: reqwest::Response) -> Result<Bytes, ReadError> {
    let declared = response.content_length().unwrap_or(0);
    if declared > MAX_ANSWER_BYTES as u64 {
        return Err(ReadError::TooLarge);
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ReadError::Transport(e.without_url()))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
