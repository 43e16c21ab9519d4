//! Name resolution for one question only: is a sovereign still alive? A force-release is
//! refused while a name PDM published for it answers with an address of its own, and while the
//! resolver cannot say. Availability is never decided
//! from DNS; this only guards an operator's last resort.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::xfer::Protocol;

/// The resolver did not say whether a name exists (a timeout, SERVFAIL, REFUSED): no
/// conclusion may be drawn from it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ResolveFailed(pub String);

/// Resolves names to addresses (A and AAAA).
#[async_trait::async_trait]
pub trait Resolver: Send + Sync + fmt::Debug {
    /// The addresses `name` resolves to; empty when it does not exist or holds no address.
    async fn addresses(&self, name: &str) -> Result<BTreeSet<IpAddr>, ResolveFailed>;
}

/// A DNS resolver: the host's (`/etc/resolv.conf`, as the process's pod sees it), or the
/// servers of `PDM_RESOLVER`. No cache, so an operator's retry asks again.
pub struct DnsResolver(TokioResolver);

impl fmt::Debug for DnsResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DnsResolver")
    }
}

impl DnsResolver {
    pub fn new(servers: &[SocketAddr]) -> Result<Self, ResolveFailed> {
        let provider = TokioConnectionProvider::default();
        let mut builder = if servers.is_empty() {
            TokioResolver::builder(provider).map_err(|e| ResolveFailed(e.to_string()))?
        } else {
            let mut config = ResolverConfig::new();
            for server in servers {
                config.add_name_server(NameServerConfig::new(*server, Protocol::Udp));
            }
            TokioResolver::builder_with_config(config, provider)
        };
        let options = builder.options_mut();
        options.cache_size = 0;
        options.timeout = Duration::from_secs(2);
        options.attempts = 2;
        Ok(Self(builder.build()))
    }
}

#[async_trait::async_trait]
impl Resolver for DnsResolver {
    async fn addresses(&self, name: &str) -> Result<BTreeSet<IpAddr>, ResolveFailed> {
        // Absolute: no search domain is tried.
        match self
            .0
            .lookup_ip(format!("{}.", name.trim_end_matches('.')))
            .await
        {
            Ok(found) => Ok(found.iter().collect()),
            Err(error) => match error.proto().map(|proto| proto.kind()) {
                Some(ProtoErrorKind::NoRecordsFound {
                    response_code: ResponseCode::NXDomain | ResponseCode::NoError,
                    ..
                }) => Ok(BTreeSet::new()),
                _ => Err(ResolveFailed(error.to_string())),
            },
        }
    }
}

/// Stands in for a resolver that could not be built: every question fails.
#[derive(Debug)]
pub struct Unresolvable(pub ResolveFailed);

#[async_trait::async_trait]
impl Resolver for Unresolvable {
    async fn addresses(&self, _: &str) -> Result<BTreeSet<IpAddr>, ResolveFailed> {
        Err(self.0.clone())
    }
}

/// The first name PDM published for the sovereign `fqdn` (its own name, each of its `hosts`,
/// a name under its wildcard) that answers with an address a name nobody holds in `pool` does
/// not: a pool's wildcard parking record makes every name resolve, and says nothing of a
/// sovereign being alive. `None` when none does; an error when the resolver could not say.
pub async fn answering_name(
    resolver: &dyn Resolver,
    fqdn: &str,
    pool: &str,
    hosts: &[String],
) -> Result<Option<String>, ResolveFailed> {
    let probe = || format!("pdm-liveness-probe-{}", uuid::Uuid::new_v4().simple());
    let parked = resolver.addresses(&format!("{}.{pool}", probe())).await?;
    let published = std::iter::once(fqdn.to_owned()).chain(hosts.iter().map(|host| {
        let host = if host == "*" { probe() } else { host.clone() };
        format!("{host}.{fqdn}")
    }));
    for name in published {
        let answered = resolver.addresses(&name).await?;
        if answered.iter().any(|address| !parked.contains(address)) {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Answers from a table; other names resolve to the parking address, if any.
    #[derive(Debug)]
    struct Zone(BTreeMap<&'static str, &'static str>, Option<&'static str>);

    #[async_trait::async_trait]
    impl Resolver for Zone {
        async fn addresses(&self, name: &str) -> Result<BTreeSet<IpAddr>, ResolveFailed> {
            let wildcard = name
                .split_once('.')
                .and_then(|(_, parent)| self.0.get(format!("*.{parent}").as_str()));
            Ok(self
                .0
                .get(name)
                .or(wildcard)
                .copied()
                .or(self.1)
                .map(|ip| BTreeSet::from([ip.parse().unwrap()]))
                .unwrap_or_default())
        }
    }

    #[derive(Debug)]
    struct Failing;

    #[async_trait::async_trait]
    impl Resolver for Failing {
        async fn addresses(&self, _: &str) -> Result<BTreeSet<IpAddr>, ResolveFailed> {
            Err(ResolveFailed("SERVFAIL".to_owned()))
        }
    }

    #[tokio::test]
    async fn only_an_address_of_its_own_at_a_published_name_is_a_sign_of_life() {
        let hosts: Vec<String> = ["*", "console", "api"].map(str::to_owned).to_vec();
        let hosts = &hosts;
        let ask = |zone: Zone| async move {
            answering_name(&zone, "acme.omani.works", "omani.works", hosts)
                .await
                .unwrap()
        };
        let parking = Some("198.51.100.1");

        assert_eq!(ask(Zone(BTreeMap::new(), parking)).await, None);
        assert_eq!(ask(Zone(BTreeMap::new(), None)).await, None);
        assert_eq!(
            ask(Zone(
                BTreeMap::from([("console.acme.omani.works", "94.130.0.10")]),
                parking
            ))
            .await,
            Some("console.acme.omani.works".to_owned())
        );
        let wildcard = ask(Zone(
            BTreeMap::from([("*.acme.omani.works", "94.130.0.10")]),
            None,
        ));
        assert!(wildcard.await.unwrap().ends_with(".acme.omani.works"));
        assert!(
            answering_name(&Failing, "acme.omani.works", "omani.works", &[])
                .await
                .is_err()
        );
    }
}
