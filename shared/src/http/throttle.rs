//! Rate limits, as deSEC throttles: per credential on guarded routes and per client address on
//! open ones, several windows per class (`PDM_RATE_LIMITS`, default
//! `write=20/s+600/min,read=200/s+6000/min`). Kept in each process (GCRA, governor): a fleet of
//! N replicas admits up to N times the limit, which the API in front of it caps as a whole.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::{HeaderMap, Method};

use crate::Error;

/// The client's address as the connection (or Lambda's request context) gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub IpAddr);

/// Which budget a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Read,
    Write,
}

impl Class {
    pub fn of(method: &Method) -> Self {
        if method == Method::GET || method == Method::HEAD {
            Self::Read
        } else {
            Self::Write
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

/// `PDM_RATE_LIMITS` as read: each class's windows, `(requests, per)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    pub write: Vec<(u32, Duration)>,
    pub read: Vec<(u32, Duration)>,
}

impl RateLimits {
    pub const DEFAULT: &'static str = "write=20/s+600/min,read=200/s+6000/min";

    /// `write=20/s+600/min,read=200/s+6000/min`; `off` (or `None`) for no limits. A class
    /// not named is not limited.
    pub fn parse(spec: &str) -> Result<Option<Self>, String> {
        if spec.trim().eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let mut limits = Self {
            write: Vec::new(),
            read: Vec::new(),
        };
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (class, windows) = entry
                .split_once('=')
                .ok_or_else(|| format!("{entry:?} is not class=N/unit+N/unit"))?;
            let windows = windows
                .split('+')
                .map(window)
                .collect::<Result<Vec<_>, _>>()?;
            match class.trim() {
                "write" => limits.write = windows,
                "read" => limits.read = windows,
                other => return Err(format!("{other:?} is not a class (write or read)")),
            }
        }
        Ok(Some(limits))
    }
}

/// `20/s`, `600/min`, `10000/h`.
fn window(raw: &str) -> Result<(u32, Duration), String> {
    let (count, unit) = raw
        .trim()
        .split_once('/')
        .ok_or_else(|| format!("{raw:?} is not N/s, N/min or N/h"))?;
    let count: u32 = count
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{count:?} is not a whole number above 0"))?;
    let per = match unit.trim() {
        "s" => Duration::from_secs(1),
        "min" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        other => return Err(format!("{other:?} is not s, min or h")),
    };
    Ok((count, per))
}

/// The limiters of one process.
pub struct Throttle {
    write: Vec<DefaultKeyedRateLimiter<String>>,
    read: Vec<DefaultKeyedRateLimiter<String>>,
    /// Proxies whose `X-Forwarded-For` names the client.
    trusted_proxies: Vec<IpAddr>,
}

impl Throttle {
    pub fn new(limits: Option<&RateLimits>, trusted_proxies: Vec<IpAddr>) -> Self {
        let limiters = |windows: &[(u32, Duration)]| -> Vec<DefaultKeyedRateLimiter<String>> {
            windows
                .iter()
                .filter_map(|(count, per)| {
                    let burst = NonZeroU32::new(*count)?;
                    Quota::with_period(*per / *count).map(|quota| quota.allow_burst(burst))
                })
                .map(RateLimiter::keyed)
                .collect()
        };
        Self {
            write: limits.map(|l| limiters(&l.write)).unwrap_or_default(),
            read: limits.map(|l| limiters(&l.read)).unwrap_or_default(),
            trusted_proxies,
        }
    }

    /// Whether no class has a limit (`PDM_RATE_LIMITS=off`): nothing to spend.
    pub fn is_off(&self) -> bool {
        self.read.is_empty() && self.write.is_empty()
    }

    /// Spends one request of `class` for `key`: `Err(RateLimited)` with when to retry when a
    /// window is used up.
    pub fn check(&self, class: Class, key: &str) -> Result<(), Error> {
        let limiters = match class {
            Class::Read => &self.read,
            Class::Write => &self.write,
        };
        let key = key.to_owned();
        for limiter in limiters {
            if let Err(not_until) = limiter.check_key(&key) {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                return Err(Error::RateLimited {
                    class: class.as_str(),
                    retry_after: wait.as_secs().max(1),
                });
            }
            // Keys of clients long gone are dropped now and then, so the map stays small.
            if limiter.len() > 10_000 {
                limiter.retain_recent();
            }
        }
        Ok(())
    }

    /// The client's address: the peer's, or the first hop of `X-Forwarded-For` when the peer
    /// is a trusted proxy. `None` where the runtime does not say (in-process tests).
    pub fn client(&self, peer: Option<PeerAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?.0;
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(',').next())
            .and_then(|first| first.trim().parse().ok());
        Some(forwarded.unwrap_or(peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_as_the_setting_writes_them() {
        let limits = RateLimits::parse(RateLimits::DEFAULT).unwrap().unwrap();
        assert_eq!(
            limits.write,
            [(20, Duration::from_secs(1)), (600, Duration::from_secs(60))]
        );
        assert_eq!(RateLimits::parse("off").unwrap(), None);
        for bad in ["write=20", "write=0/s", "write=5/day", "other=1/s"] {
            assert!(RateLimits::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_key_past_its_window_waits_and_another_key_does_not() {
        let limits = RateLimits::parse("write=3/min").unwrap();
        let throttle = Throttle::new(limits.as_ref(), Vec::new());
        for _ in 0..3 {
            throttle.check(Class::Write, "sov1").unwrap();
        }
        let refused = throttle.check(Class::Write, "sov1").unwrap_err();
        assert!(matches!(refused, Error::RateLimited { retry_after, .. } if retry_after >= 1));
        throttle.check(Class::Write, "sov2").unwrap();
        throttle.check(Class::Read, "sov1").unwrap();
    }

    #[test]
    fn x_forwarded_for_counts_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let throttle = Throttle::new(None, vec![proxy]);
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "198.51.100.7, 10.0.0.2".parse().unwrap());
        let via_proxy = throttle.client(Some(PeerAddr(proxy)), &headers);
        let direct = throttle.client(Some(PeerAddr("203.0.113.9".parse().unwrap())), &headers);
        assert_eq!(via_proxy, Some("198.51.100.7".parse().unwrap()));
        assert_eq!(direct, Some("203.0.113.9".parse().unwrap()));
    }
}
