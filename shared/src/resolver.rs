//! Name resolution for one question only: is a sovereign still alive? A force-release is
//! refused while its FQDN answers with an address of its own. Availability is never decided
//! from DNS; this only guards an operator's last resort.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

/// Resolves names to addresses (A and AAAA).
#[async_trait::async_trait]
pub trait Resolver: Send + Sync + fmt::Debug {
    /// The addresses `name` resolves to; empty when it does not (NXDOMAIN, no data, or no
    /// answer at all).
    async fn addresses(&self, name: &str) -> BTreeSet<IpAddr>;
}

/// The host's resolver (`/etc/resolv.conf`, as the process's pod sees it).
#[derive(Debug, Default)]
pub struct SystemResolver;

#[async_trait::async_trait]
impl Resolver for SystemResolver {
    async fn addresses(&self, name: &str) -> BTreeSet<IpAddr> {
        match tokio::net::lookup_host((name, 0)).await {
            Ok(found) => found.map(|address| address.ip()).collect(),
            Err(_) => BTreeSet::new(),
        }
    }
}

/// Whether `fqdn` answers with an address that a name certainly nobody holds in `pool` does
/// not: a pool's wildcard parking record makes every name resolve, and that says nothing of
/// a sovereign being alive.
pub async fn answers_for_itself(resolver: &dyn Resolver, fqdn: &str, pool: &str) -> bool {
    let answered = resolver.addresses(fqdn).await;
    if answered.is_empty() {
        return false;
    }
    let probe = format!(
        "pdm-liveness-probe-{}.{pool}",
        uuid::Uuid::new_v4().simple()
    );
    let parked = resolver.addresses(&probe).await;
    answered.iter().any(|address| !parked.contains(address))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Debug)]
    struct Zone(BTreeMap<&'static str, &'static str>, Option<&'static str>);

    #[async_trait::async_trait]
    impl Resolver for Zone {
        async fn addresses(&self, name: &str) -> BTreeSet<IpAddr> {
            self.0
                .get(name)
                .copied()
                .or(self.1)
                .map(|ip| BTreeSet::from([ip.parse().unwrap()]))
                .unwrap_or_default()
        }
    }

    #[tokio::test]
    async fn a_parking_wildcard_is_not_a_sign_of_life() {
        let parked = Zone(BTreeMap::new(), Some("198.51.100.1"));
        let alive = Zone(
            BTreeMap::from([("acme.omani.works", "94.130.0.10")]),
            Some("198.51.100.1"),
        );
        let gone = Zone(BTreeMap::new(), None);

        assert!(!answers_for_itself(&parked, "acme.omani.works", "omani.works").await);
        assert!(answers_for_itself(&alive, "acme.omani.works", "omani.works").await);
        assert!(!answers_for_itself(&gone, "acme.omani.works", "omani.works").await);
    }
}
