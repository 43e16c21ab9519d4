//! The allocation state machine: free → reserved → active → free, with lapsed reservations
//! counting as free. Inputs arrive parsed; every refusal is an [`Error`].

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, instrument, warn};
use uuid::Uuid;

use crate::Error;
use crate::dns::{DnsProvider, SovereignRecords};
use crate::domain::{ManagedDomains, PoolDomain, Subdomain};
use crate::store::{Activation, Allocation, State, Store};

/// How many lapsed reservations the sweeper deletes per statement: small enough that no lock
/// is held for long.
pub const SWEEP_BATCH: i64 = 500;
/// The largest page `list` hands out.
pub const MAX_PAGE: i64 = 1000;

/// The answer of `check`: available, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    pub fqdn: String,
    /// `None` when available; otherwise the contract's reason code and a human text.
    pub refusal: Option<(&'static str, String)>,
}

/// Whether DNS caught up with the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsSync {
    Written,
    /// The row changed but the provider failed; the change is still owed.
    Pending,
}

/// What commit asks for, parsed.
#[derive(Debug, Clone)]
pub struct Commit {
    /// `None` when the presented token is not a UUID: it matches nothing.
    pub token: Option<Uuid>,
    pub sovereign_fqdn: String,
    pub load_balancer_ip: IpAddr,
}

/// A page of `list`.
#[derive(Debug, Clone)]
pub struct Page {
    pub allocations: Vec<Allocation>,
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SweepReport {
    pub deleted: u64,
    pub batches: u32,
}

/// PDM's operations over one store and one DNS provider. Cheap to share behind an `Arc`.
pub struct Pdm {
    store: Store,
    dns: Arc<dyn DnsProvider>,
    domains: ManagedDomains,
    reservation_ttl: Duration,
}

impl Pdm {
    pub fn new(
        store: Store,
        dns: Arc<dyn DnsProvider>,
        domains: ManagedDomains,
        reservation_ttl: Duration,
    ) -> Self {
        Self {
            store,
            dns,
            domains,
            reservation_ttl,
        }
    }

    pub fn domains(&self) -> &ManagedDomains {
        &self.domains
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether `raw_sub` could be reserved in `raw_pool` now, decided from the table alone.
    #[instrument(skip_all, fields(pool = raw_pool, sub = raw_sub))]
    pub async fn check(&self, raw_pool: &str, raw_sub: &str) -> Result<Availability, Error> {
        let requested_fqdn = format!(
            "{}.{}",
            raw_sub.to_ascii_lowercase(),
            raw_pool.to_ascii_lowercase()
        );
        let (pool, sub, fqdn) = match self.parse_reservable(raw_pool, raw_sub) {
            Ok(parsed) => parsed,
            Err(refusal) => {
                return Ok(Availability {
                    fqdn: requested_fqdn,
                    refusal: Some((refusal.code(), refusal.to_string())),
                });
            }
        };
        let refusal = match self.store.find(&pool, &sub).await? {
            Some(held) if held.state == State::Active => {
                Some(("active-state", format!("{fqdn} is allocated")))
            }
            Some(held) if !held.lapsed => {
                Some(("reserved-state", format!("{fqdn} is held by a reservation")))
            }
            _ => None,
        };
        Ok(Availability { fqdn, refusal })
    }

    /// Parses a name that may be reserved: managed pool, well-formed label, not reserved.
    pub fn parse_reservable(
        &self,
        raw_pool: &str,
        raw_sub: &str,
    ) -> Result<(PoolDomain, Subdomain, String), Error> {
        let pool = self.domains.resolve(raw_pool)?;
        let sub = Subdomain::parse(raw_sub)?;
        let fqdn = pool.fqdn(&sub)?;
        if sub.is_reserved() {
            return Err(Error::Reserved(sub.to_string()));
        }
        Ok((pool, sub, fqdn))
    }

    /// Holds the name for the reservation TTL, taking over a lapsed reservation.
    #[instrument(skip_all, fields(%pool, %sub))]
    pub async fn reserve(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        created_by: &str,
    ) -> Result<Allocation, Error> {
        let reserved = self
            .store
            .reserve(pool, sub, self.reservation_ttl, created_by)
            .await?
            .ok_or(Error::Conflict)?;
        info!(expires_at = ?reserved.expires_at, "reserved");
        Ok(reserved)
    }

    /// Flips the reservation to active (the row first), then publishes its records.
    /// A repeated commit of the same allocation answers as the first did.
    #[instrument(skip_all, fields(%pool, %sub, lb = %commit.load_balancer_ip))]
    pub async fn commit(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        commit: &Commit,
    ) -> Result<(Allocation, DnsSync), Error> {
        let ip = commit.load_balancer_ip.to_string();
        let activation = Activation {
            token: commit.token,
            sovereign_fqdn: &commit.sovereign_fqdn,
            load_balancer_ip: &ip,
        };
        let allocation = match self.store.activate(pool, sub, &activation).await? {
            Some(activated) => activated,
            None => {
                self.explain_failed_activation(pool, sub, &activation)
                    .await?
            }
        };
        let records = SovereignRecords {
            pool: pool.clone(),
            sub: sub.clone(),
            target: commit.load_balancer_ip,
        };
        let sync = self.sync_dns(self.dns.publish(&records).await);
        Ok((allocation, sync))
    }

    /// Why no reservation matched; the same allocation again when this commit already won.
    async fn explain_failed_activation(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        activation: &Activation<'_>,
    ) -> Result<Allocation, Error> {
        let held = self.store.find(pool, sub).await?.ok_or(Error::NotFound)?;
        let same_token = Some(held.reservation_token) == activation.token;
        match held.state {
            State::Active
                if same_token
                    && held.sovereign_fqdn.as_deref() == Some(activation.sovereign_fqdn)
                    && held.load_balancer_ip.as_deref() == Some(activation.load_balancer_ip) =>
            {
                Ok(held)
            }
            State::Active => Err(Error::AlreadyActive),
            State::Reserved if !same_token => Err(Error::TokenMismatch),
            State::Reserved if held.lapsed => Err(Error::Expired),
            // The update saw a lapsed reservation that this read sees live: only a clock that
            // went backwards does that.
            State::Reserved => Err(Error::Unexpected(anyhow::anyhow!(
                "activation failed on a live reservation with a matching token"
            ))),
        }
    }

    /// Deletes the allocation and withdraws its records.
    #[instrument(skip_all, fields(%pool, %sub))]
    pub async fn release(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
    ) -> Result<(String, DnsSync), Error> {
        let fqdn = pool.fqdn(sub)?;
        let released = self.store.delete(pool, sub).await?.ok_or(Error::NotFound)?;
        let target = released
            .load_balancer_ip
            .as_deref()
            .and_then(|ip| ip.parse::<IpAddr>().ok());
        let sync = match target {
            Some(target) => {
                let records = SovereignRecords {
                    pool: pool.clone(),
                    sub: sub.clone(),
                    target,
                };
                self.sync_dns(self.dns.withdraw(&records).await)
            }
            // A reservation never had records.
            None => DnsSync::Written,
        };
        info!(state = ?released.state, "released");
        Ok((fqdn, sync))
    }

    /// One page of the pool's live allocations, ordered by subdomain.
    pub async fn list(
        &self,
        pool: &PoolDomain,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page, Error> {
        let Some(limit) = limit else {
            let allocations = self.store.list(pool, after, None).await?;
            return Ok(Page {
                allocations,
                next: None,
            });
        };
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::BadRequest(format!(
                "limit must be between 1 and {MAX_PAGE}"
            )));
        }
        // One row more than asked says whether another page follows.
        let mut allocations = self.store.list(pool, after, Some(limit + 1)).await?;
        let next = if allocations.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
            allocations.pop();
            allocations.last().map(|last| last.subdomain.clone())
        } else {
            None
        };
        Ok(Page { allocations, next })
    }

    /// Deletes every lapsed reservation, batch by batch.
    #[instrument(skip_all)]
    pub async fn sweep(&self) -> Result<SweepReport, Error> {
        let mut report = SweepReport::default();
        loop {
            let deleted = self.store.delete_lapsed(SWEEP_BATCH).await?;
            report.deleted += deleted;
            report.batches += 1;
            if deleted < u64::try_from(SWEEP_BATCH).unwrap_or(u64::MAX) {
                break;
            }
        }
        if report.deleted > 0 {
            info!(deleted = report.deleted, "swept lapsed reservations");
        }
        Ok(report)
    }

    /// Whether the database answers.
    pub async fn healthy(&self) -> bool {
        match self.store.ping().await {
            Ok(()) => true,
            Err(error) => {
                warn!(error.message = %error, "database is not answering");
                false
            }
        }
    }

    fn sync_dns(&self, result: Result<(), crate::dns::DnsError>) -> DnsSync {
        match result {
            Ok(()) => DnsSync::Written,
            Err(error) => {
                warn!(provider = self.dns.name(), error.message = %error, "DNS change is pending");
                DnsSync::Pending
            }
        }
    }
}
