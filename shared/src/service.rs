//! The allocation state machine: free → reserved → active → releasing → free, with lapsed
//! reservations counting as free. The table is the truth; DNS follows it: every change DNS
//! owes is recorded on the row first, applied under the zone's lock, and retried by the
//! reconciler until it lands, so even a crash between the two converges.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, instrument, warn};
use uuid::Uuid;

use crate::dns::DnsProvider;
use crate::domain::{CreatedBy, ManagedDomains, PoolDomain, Subdomain};
use crate::metrics::Metrics;
use crate::resolver::{DnsResolver, Resolver, answering_name};
use crate::store::{
    Activation, Actor, Allocation, DnsState, Event, Release, Reservation, ReserveTerms, State,
    Store,
};
use crate::zone_writer::ZoneWriter;
use crate::{Config, Error};

/// How many lapsed reservations the sweeper deletes per statement: small enough that no lock
/// is held for long.
pub const SWEEP_BATCH: i64 = 500;
/// How often a release is tried again when a concurrent change hid its row from it.
const RELEASE_RETRIES: u32 = 3;
/// The largest page `list` hands out.
pub const MAX_PAGE: i64 = 1000;
/// How long `/metrics` serves the table's state before reading it again.
const TABLE_STATE_MAX_AGE: Duration = Duration::from_secs(5);
/// How long `/metrics` waits for the table's state before answering without it.
const TABLE_STATE_DEADLINE: Duration = Duration::from_secs(2);

/// The answer of `check`: available, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    pub fqdn: String,
    /// `None` when available; otherwise the contract's reason code and a human text.
    pub refusal: Option<(&'static str, String)>,
}

/// Whether DNS caught up with the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsSync {
    Written,
    /// The row changed but DNS did not follow yet; the reconciler keeps trying.
    Pending,
    /// The zone refused the change for a reason retrying cannot fix: the commit went back to
    /// its reservation and DNS owes nothing.
    Refused(DnsRefusal),
}

/// Why a zone will never take a commit's records as things stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsRefusal {
    /// Records PDM did not write stand at the sovereign's names (the text names them).
    Conflict(String),
    /// The zone has no room left for the sovereign's records.
    Full(String),
}

impl From<DnsRefusal> for Error {
    fn from(refusal: DnsRefusal) -> Self {
        match refusal {
            DnsRefusal::Conflict(detail) => Self::DnsConflict(detail),
            DnsRefusal::Full(detail) => Self::PoolFull(detail),
        }
    }
}

/// What commit asks for, parsed.
#[derive(Debug, Clone)]
pub struct Commit {
    /// `None` when the presented token is not a UUID: it matches nothing.
    pub token: Option<Uuid>,
    pub sovereign_fqdn: String,
    pub load_balancer_ip: IpAddr,
    /// Where the console hosts point, when the sovereign has an isolated console gateway.
    pub console_load_balancer_ip: Option<IpAddr>,
}

/// A token that is not a UUID matches no reservation; nil never belongs to one (PDM issues
/// random v4 tokens), so it stands for "presented but unmatched".
pub fn presented_token(raw: &str) -> Uuid {
    raw.trim().parse().unwrap_or(Uuid::nil())
}

/// A page of `list`.
#[derive(Debug, Clone)]
pub struct Page {
    pub allocations: Vec<Allocation>,
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
}

/// A record PDM expects or owns, as drift reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DriftRecord {
    /// Relative to the pool, e.g. `console.acme`.
    pub name: String,
    pub value: String,
    /// The reconciler already owes this change: it will converge without help.
    pub owed: bool,
}

/// How the live zone differs from the table.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Drift {
    /// Records an active allocation should have and the zone lacks.
    pub missing: Vec<DriftRecord>,
    /// PDM-shaped records (`<host>.<label>`) that no active allocation owns.
    pub orphaned: Vec<DriftRecord>,
    /// Records PDM did not write at a sovereign's host names: they keep that name from
    /// being allocated (`dns-conflict`) unless PDM_FOREIGN_RECORDS=adopt.
    pub foreign: Vec<crate::dns::ZoneRecord>,
}

impl Drift {
    /// Differences the reconciler will not repair by itself.
    pub fn unexplained(&self) -> usize {
        self.missing
            .iter()
            .chain(&self.orphaned)
            .filter(|r| !r.owed)
            .count()
    }
}

/// `not-owner` when `actor` may change only its own allocations and `held` is another's.
fn refuse_other_owners(held: &Allocation, actor: &Actor) -> Result<(), Error> {
    match actor.owner_required() {
        Some(owner) if held.owner.as_deref() != Some(owner) => Err(Error::NotOwner),
        _ => Ok(()),
    }
}

/// The resolver of the force-release gate: `servers` (`PDM_RESOLVER`), else the host's. One
/// that cannot be built answers every question with its failure, so no gate ever passes.
fn resolver_of(servers: &[std::net::SocketAddr]) -> Arc<dyn Resolver> {
    match DnsResolver::new(servers) {
        Ok(resolver) => Arc::new(resolver),
        Err(error) => {
            warn!(error.message = %error, "no DNS resolver: every force-release will be refused");
            Arc::new(crate::resolver::Unresolvable(error))
        }
    }
}

/// When the table's state was last asked for, and last read, for `/metrics`.
#[derive(Debug, Default)]
struct TableRead {
    tried_at: Option<std::time::Instant>,
    read_at: Option<std::time::Instant>,
}

/// What one maintenance run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceReport {
    /// Lapsed reservations deleted, and in how many batches.
    pub swept: u64,
    pub sweep_batches: u32,
    /// Owed DNS changes applied, and those still pending after this run.
    pub dns_synced: u32,
    pub dns_pending: u32,
    /// Zones whose room was measured.
    pub zones_measured: u32,
}

/// PDM's operations over one store and one DNS provider. Shared behind an `Arc`.
pub struct Pdm {
    store: Arc<dyn Store>,
    /// The DNS side: zones' writers, room and foreign records.
    zones: Arc<ZoneWriter>,
    domains: ManagedDomains,
    reservation_ttl: Duration,
    sovereign_hosts: Vec<String>,
    /// The sovereign hosts that point at a commit's `consoleLoadBalancerIP`.
    console_hosts: Vec<String>,
    allow_private_lb: bool,
    force_release_grace: Duration,
    /// Asked whether a sovereign still answers before an operator may force-release it; made
    /// on the first force-release, so no start-up (a function's cold start) pays for it.
    resolver: std::sync::OnceLock<Arc<dyn Resolver>>,
    /// The servers it asks (`PDM_RESOLVER`); none: the host's.
    resolver_servers: Vec<std::net::SocketAddr>,
    /// How long a DNS change being applied is left to its applier before the reconciler may
    /// try it too: twice the sweeper interval, at least a second.
    dns_lease: Duration,
    metrics: Arc<Metrics>,
    /// When `/metrics` last tried to read the table's state, and last did.
    table_state: tokio::sync::Mutex<TableRead>,
}

impl Pdm {
    pub fn new(store: Arc<dyn Store>, dns: Arc<dyn DnsProvider>, config: &Config) -> Self {
        let metrics = Arc::new(Metrics::default());
        Self {
            zones: Arc::new(ZoneWriter::new(store.clone(), dns, metrics.clone(), config)),
            store,
            domains: config.managed_domains.clone(),
            reservation_ttl: config.reservation_ttl,
            sovereign_hosts: config.sovereign_hosts.clone(),
            console_hosts: config
                .sovereign_hosts
                .iter()
                .filter(|host| config.console_hosts.contains(host))
                .cloned()
                .collect(),
            allow_private_lb: config.allow_private_lb,
            force_release_grace: config.force_release_grace,
            resolver: std::sync::OnceLock::new(),
            resolver_servers: config.resolver.clone(),
            dns_lease: (config.sweeper_interval * 2).max(Duration::from_secs(1)),
            metrics,
            table_state: tokio::sync::Mutex::default(),
        }
    }

    /// The same, asking `resolver` whether a sovereign still answers (tests).
    pub fn with_resolver(self, resolver: Arc<dyn Resolver>) -> Self {
        Self {
            resolver: std::sync::OnceLock::from(resolver),
            ..self
        }
    }

    /// The DNS side.
    pub fn zones(&self) -> &Arc<ZoneWriter> {
        &self.zones
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The Prometheus exposition. The table's state costs a scan, so it is read at most once
    /// every [`TABLE_STATE_MAX_AGE`] (whether the read worked or not), by one request at a
    /// time, within [`TABLE_STATE_DEADLINE`]; meanwhile, and while the database does not
    /// answer, a scrape gets the process's own counters and the gauges as last read.
    pub async fn render_metrics(&self) -> String {
        let Ok(mut snapshot) = self.table_state.try_lock() else {
            return self.metrics.render(None, None);
        };
        let due = snapshot
            .tried_at
            .is_none_or(|tried| tried.elapsed() >= TABLE_STATE_MAX_AGE);
        if due {
            snapshot.tried_at = Some(std::time::Instant::now());
            match tokio::time::timeout(TABLE_STATE_DEADLINE, self.store.table_state()).await {
                Ok(Ok(state)) => {
                    snapshot.read_at = snapshot.tried_at;
                    return self.metrics.render(Some(&state), Some(Duration::ZERO));
                }
                Ok(Err(error)) => {
                    warn!(error.message = %error, "metrics: the table's state was not read");
                }
                Err(_) => warn!("metrics: the table's state was not read in time"),
            }
        }
        let age = snapshot.read_at.map(|read| read.elapsed());
        self.metrics.render(None, age)
    }

    pub fn domains(&self) -> &ManagedDomains {
        &self.domains
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub fn dns_provider(&self) -> &dyn DnsProvider {
        self.zones.provider()
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
        let refusal = self.zones.refusal(&pool, &sub, &fqdn).await?;
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

    /// Validates a commit of `fqdn` as the contract does, for every caller alike: the
    /// addresses must be publishable, the sovereign FQDN (`fqdn` when absent) a host name.
    pub fn parse_commit(
        &self,
        fqdn: &str,
        token: &str,
        sovereign_fqdn: Option<&str>,
        (load_balancer_ip, console_load_balancer_ip): (Option<&str>, Option<&str>),
    ) -> Result<Commit, Error> {
        let load_balancer_ip = load_balancer_ip
            .ok_or_else(|| Error::MissingLbIp("loadBalancerIP is required".to_owned()))?;
        let load_balancer_ip =
            crate::address::publishable(load_balancer_ip, self.allow_private_lb)?;
        let console_load_balancer_ip = console_load_balancer_ip
            .map(|ip| {
                crate::address::publishable_as("consoleLoadBalancerIP", ip, self.allow_private_lb)
            })
            .transpose()?;
        let sovereign_fqdn = match sovereign_fqdn.map(str::trim) {
            None | Some("") => fqdn.to_owned(),
            Some(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if !crate::domain::is_hostname(&name) {
                    return Err(Error::InvalidFormat(
                        "sovereignFQDN is not a valid host name".to_owned(),
                    ));
                }
                name
            }
        };
        Ok(Commit {
            token: Some(presented_token(token)),
            sovereign_fqdn,
            load_balancer_ip,
            console_load_balancer_ip,
        })
    }

    /// Holds the name for the reservation TTL, taking over a lapsed reservation, and only
    /// when the zone can take the sovereign's records once committed.
    #[instrument(skip_all, fields(%pool, %sub))]
    pub async fn reserve(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        created_by: &CreatedBy,
        actor: &Actor,
    ) -> Result<Allocation, Error> {
        // The room first: a zone never seen is read then, so its foreign records are known.
        let room = self
            .zones
            .room(pool)
            .await?
            .map(|room| (room, self.sovereign_hosts.len()));
        let terms = ReserveTerms {
            ttl: self.reservation_ttl,
            created_by: created_by.as_str(),
            room,
            refuse_foreign: self.zones.refuses_foreign(),
        };
        let refusal = match self.store.reserve(pool, sub, &terms, actor).await? {
            Reservation::Made(reserved) => {
                info!(expires_at = ?reserved.expires_at, "reserved");
                return Ok(*reserved);
            }
            // The statement refuses a frozen pool as it refuses a held name; only then is the
            // freeze read, to say which.
            Reservation::Held => match self.store.freeze_of(pool).await? {
                Some(freeze) => return Err(Error::PoolFrozen(freeze.reason)),
                None => Error::Conflict,
            },
            Reservation::Full => Error::PoolFull(format!(
                "{pool} cannot take the {} records of another sovereign",
                self.sovereign_hosts.len()
            )),
            Reservation::OverQuota { limit, live } => {
                return Err(Error::QuotaExceeded { limit, live });
            }
        };
        // Records PDM did not write are the first reason, as check gives it.
        Err(self
            .zones
            .foreign_conflict(pool, sub)
            .await?
            .unwrap_or(refusal))
    }

    /// Flips the reservation to active (the row first, owing its records), then publishes
    /// them. A repeated commit of the same allocation answers as the first did.
    #[instrument(skip_all, fields(%pool, %sub, lb = %commit.load_balancer_ip))]
    pub async fn commit(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        commit: &Commit,
        actor: &Actor,
    ) -> Result<(Allocation, DnsSync), Error> {
        let ip = commit.load_balancer_ip.to_string();
        let console_ip = commit.console_load_balancer_ip.map(|ip| ip.to_string());
        let activation = Activation {
            token: commit.token,
            sovereign_fqdn: &commit.sovereign_fqdn,
            load_balancer_ip: &ip,
            hosts: &self.sovereign_hosts,
            console: console_ip
                .as_deref()
                .map(|ip| (ip, self.console_hosts.as_slice())),
            lease: self.dns_lease,
            refuse_foreign: self.zones.refuses_foreign(),
        };
        let allocation = match self.store.activate(pool, sub, &activation, actor).await? {
            Some(activated) => activated,
            None => {
                self.explain_failed_activation(pool, sub, &activation, actor)
                    .await?
            }
        };
        let sync = self
            .zones
            .sync(pool, sub, allocation.dns_version, actor)
            .await;
        if let DnsSync::Refused(refusal) = sync {
            return Err(refusal.into());
        }
        Ok((self.after_sync(pool, sub, allocation, &sync).await, sync))
    }

    /// The allocation as its DNS now stands, for the answer: settled when its change was
    /// written, else as the ledger records the attempts so far.
    async fn after_sync(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        mut allocation: Allocation,
        sync: &DnsSync,
    ) -> Allocation {
        match sync {
            DnsSync::Written => {
                allocation.dns_state = DnsState::Synced;
                allocation.dns_attempts = 0;
                allocation.dns_retry_at = None;
                allocation
            }
            DnsSync::Pending | DnsSync::Refused(_) => {
                match self.store.find(pool, sub).await {
                    Ok(Some(fresh)) if fresh.dns_version == allocation.dns_version => fresh,
                    // Changed again meanwhile, or the read failed: what the commit wrote.
                    _ => allocation,
                }
            }
        }
    }

    /// Why no reservation matched; the same allocation again when this commit already won.
    async fn explain_failed_activation(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        activation: &Activation<'_>,
        actor: &Actor,
    ) -> Result<Allocation, Error> {
        // Records PDM did not write are the first reason, as check gives it.
        if let Some(conflict) = self.zones.foreign_conflict(pool, sub).await? {
            return Err(conflict);
        }
        let held = self
            .store
            .find(pool, sub)
            .await?
            .filter(|held| held.releasing_since.is_none())
            .ok_or(Error::NotFound)?;
        refuse_other_owners(&held, actor)?;
        let same_token = Some(held.reservation_token) == activation.token;
        match held.state {
            State::Active
                if same_token
                    && held.sovereign_fqdn.as_deref() == Some(activation.sovereign_fqdn)
                    && held.load_balancer_ip.as_deref() == Some(activation.load_balancer_ip)
                    && held.console_load_balancer_ip.as_deref()
                        == activation.console.map(|(ip, _)| ip) =>
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

    /// Frees the name: a reservation at once; an allocation once its records are gone (until
    /// then the name stays taken, and the reconciler finishes the removal). With `token`, only
    /// the holder of that reservation token may.
    #[instrument(skip_all, fields(%pool, %sub))]
    pub async fn release(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        token: Option<Uuid>,
        actor: &Actor,
    ) -> Result<(String, DnsSync), Error> {
        let fqdn = pool.fqdn(sub)?;
        let mut retries = 0;
        let releasing = loop {
            match self
                .store
                .release(pool, sub, token, self.dns_lease, actor)
                .await?
            {
                Some(Release::Freed(_)) => {
                    info!("released a reservation");
                    return Ok((fqdn, DnsSync::Written));
                }
                Some(Release::Releasing(row)) => break *row,
                None => match self.store.find(pool, sub).await? {
                    None => return Err(Error::NotFound),
                    Some(held) if refuse_other_owners(&held, actor).is_err() => {
                        return Err(Error::NotOwner);
                    }
                    Some(held) if token.is_some_and(|t| t != held.reservation_token) => {
                        return Err(Error::TokenMismatch);
                    }
                    // The row changed between the release statement's snapshot and its write
                    // (a concurrent commit activated it); a new statement sees it as it is now.
                    Some(_) if retries < RELEASE_RETRIES => retries += 1,
                    Some(_) => {
                        return Err(Error::Unavailable(
                            "the allocation",
                            anyhow::anyhow!("it kept changing while being released"),
                        ));
                    }
                },
            }
        };
        let sync = self
            .zones
            .sync(pool, sub, releasing.dns_version, actor)
            .await;
        info!(?sync, "released an allocation");
        Ok((fqdn, sync))
    }

    /// The pool and label a sovereign's FQDN names (`acme.omani.works`): 404 `not-managed`
    /// when it is under no managed pool, as a bring-your-own domain is.
    pub fn split_fqdn(&self, fqdn: &str) -> Result<(PoolDomain, Subdomain), Error> {
        let name = fqdn.trim().trim_end_matches('.').to_ascii_lowercase();
        let Some((label, pool)) = name.split_once('.') else {
            return Err(Error::InvalidFormat(
                "sovereignFQDN must be <subdomain>.<pool domain>".to_owned(),
            ));
        };
        let Ok(pool) = self.domains.resolve(pool) else {
            // Under a managed pool but not one label below it (`x.acme.omani.works`,
            // `acme..omani.works`): malformed, not someone else's domain.
            let under_a_pool = self
                .domains
                .iter()
                .any(|managed| name.ends_with(&format!(".{managed}")));
            return Err(if under_a_pool {
                Error::InvalidFormat(
                    "sovereignFQDN must be one label under a pool domain".to_owned(),
                )
            } else {
                Error::NotManaged(name)
            });
        };
        Ok((pool, Subdomain::parse(label)?))
    }

    /// An operator's last resort for a sovereign whose cluster never decommissioned: releases
    /// it without its token, only once it is older than the grace and its FQDN no longer
    /// answers with an address of its own; the reason goes into the audit trail.
    pub async fn force_release(
        &self,
        fqdn: &str,
        reason: &str,
        grace_confirmed: bool,
        actor: &Actor,
    ) -> Result<(String, DnsSync), Error> {
        if reason.trim().is_empty() {
            return Err(Error::InvalidFormat(
                "reason must say why the sovereign is released by force".to_owned(),
            ));
        }
        crate::domain::printable_text("reason", reason)?;
        if !grace_confirmed {
            return Err(Error::InvalidFormat(
                "graceConfirmed must be true: the operator confirms the grace has passed"
                    .to_owned(),
            ));
        }
        let (pool, sub) = self.split_fqdn(fqdn)?;
        let held = self.allocation(&pool, &sub).await?.ok_or(Error::NotFound)?;
        let allowed_at = held.reserved_at + self.force_release_grace;
        if time::OffsetDateTime::now_utc() < allowed_at {
            let allowed_at = allowed_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            return Err(Error::GraceNotElapsed(allowed_at));
        }
        let name = pool.fqdn(&sub)?;
        let hosts = held.dns_hosts.as_deref().unwrap_or(&self.sovereign_hosts);
        let resolver = self
            .resolver
            .get_or_init(|| resolver_of(&self.resolver_servers));
        match answering_name(resolver.as_ref(), &name, pool.as_str(), hosts).await {
            Ok(None) => {}
            Ok(Some(answering)) => return Err(Error::StillResolves(answering)),
            Err(failed) => return Err(Error::LivenessUnknown(failed.to_string())),
        }
        warn!(%pool, %sub, reason, actor = actor.name, "force-release");
        let actor = actor
            .clone()
            .because(&format!("force-release: {}", reason.trim()));
        // Only the allocation whose age was checked: the DNS gate took seconds, in which it
        // may have been released and the name taken by another sovereign (a new token).
        match self
            .release(&pool, &sub, Some(held.reservation_token), &actor)
            .await
        {
            Err(Error::TokenMismatch) => Err(Error::Conflict),
            released => released,
        }
    }

    /// Stops reservations under the pool (`reason` printable, at most 256 characters) until
    /// [`Pdm::unfreeze`]; commits of existing reservations, releases and DNS go on.
    pub async fn freeze(
        &self,
        pool: &PoolDomain,
        reason: &str,
        actor: &Actor,
    ) -> Result<crate::store::Freeze, Error> {
        if reason.trim().is_empty() {
            return Err(Error::InvalidFormat(
                "reason must say why the pool is frozen".to_owned(),
            ));
        }
        crate::domain::printable_text("reason", reason)?;
        let frozen = self.store.freeze(pool, reason.trim(), actor).await?;
        warn!(%pool, reason, actor = actor.name, "pool frozen: no reservation is taken");
        Ok(frozen)
    }

    /// Lifts the pool's freeze; whether it was frozen.
    pub async fn unfreeze(&self, pool: &PoolDomain, actor: &Actor) -> Result<bool, Error> {
        let lifted = self.store.unfreeze(pool, actor).await?;
        if lifted {
            info!(%pool, actor = actor.name, "pool unfrozen");
        }
        Ok(lifted)
    }

    /// The pool's freeze, when it is frozen.
    pub async fn freeze_of(
        &self,
        pool: &PoolDomain,
    ) -> Result<Option<crate::store::Freeze>, Error> {
        Ok(self.store.freeze_of(pool).await?)
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

    /// The sweeper's run: delete lapsed reservations, measure stale zones, and retry every
    /// DNS change that is due.
    #[instrument(skip_all)]
    pub async fn maintain(&self) -> Result<MaintenanceReport, Error> {
        let swept = self.sweep().await?;
        let reconciled = self.reconcile().await?;
        let report = MaintenanceReport {
            swept: swept.swept,
            sweep_batches: swept.sweep_batches,
            ..reconciled
        };
        let changes = u64::from(report.dns_synced + report.dns_pending + report.zones_measured);
        if report.swept + changes > 0 {
            info!(?report, "maintenance");
        }
        Ok(report)
    }

    /// Deletes every lapsed reservation, batch by batch.
    pub async fn sweep(&self) -> Result<MaintenanceReport, Error> {
        let mut report = MaintenanceReport::default();
        loop {
            let deleted = self.store.delete_lapsed(SWEEP_BATCH).await?;
            report.swept += deleted;
            self.metrics.record_expired(deleted);
            report.sweep_batches += 1;
            if deleted < u64::try_from(SWEEP_BATCH).unwrap_or(u64::MAX) {
                return Ok(report);
            }
        }
    }

    /// Measures stale zones and applies every DNS change that is due, a batch per zone.
    pub async fn reconcile(&self) -> Result<MaintenanceReport, Error> {
        let (zones_measured, dns_synced, dns_pending) = self.zones.reconcile().await?;
        Ok(MaintenanceReport {
            zones_measured,
            dns_synced,
            dns_pending,
            ..MaintenanceReport::default()
        })
    }

    /// Marks every committed allocation's records as owed again, then reconciles: each is
    /// published as the provider is now configured. Moving PowerDNS from `records` to
    /// `child-zone` this way replaces each sovereign's records in the pool zone by its
    /// delegation in one atomic `PATCH`, so its names never stop resolving.
    pub async fn republish(&self) -> Result<(u64, MaintenanceReport), Error> {
        let owed = self.store.republish().await?;
        info!(owed, "every committed allocation is owed to DNS again");
        Ok((owed, self.reconcile().await?))
    }

    /// Compares the pool's live zone with the table (see [`ZoneWriter::drift`]).
    pub async fn drift(&self, pool: &PoolDomain) -> Result<Option<Drift>, Error> {
        self.zones.drift(pool).await
    }

    /// Every DNS change still owed, for a dry run of the reconciler.
    pub async fn owed_changes(&self) -> Result<Vec<Allocation>, Error> {
        Ok(self.store.pending().await?)
    }

    /// The name's allocation as it stands, with its DNS state; a lapsed reservation holds
    /// nothing. One being released is still there until its records are gone.
    pub async fn allocation(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
    ) -> Result<Option<Allocation>, Error> {
        let found = self.store.find(pool, sub).await?;
        Ok(found.filter(|allocation| !allocation.lapsed))
    }

    /// The allocation's history, oldest first (its latest 1000 events).
    pub async fn history(&self, pool: &PoolDomain, sub: &Subdomain) -> Result<Vec<Event>, Error> {
        Ok(self.store.history(pool, sub, 1000).await?)
    }

    /// Ready to serve: the database answers and holds every migration this build knows.
    pub async fn readiness(&self) -> Result<(), String> {
        let expected = self.store.migrator().iter().map(|m| m.version).max();
        match self.store.schema_version().await {
            Ok(applied) if applied >= expected => match self.store.accepts_writes().await {
                Ok(true) => Ok(()),
                Ok(false) => Err("the database takes no writes now (read-only)".to_owned()),
                Err(error) => {
                    warn!(error.message = %error, "database is not ready");
                    Err("the database does not answer".to_owned())
                }
            },
            Ok(applied) => Err(format!(
                "database schema at version {applied:?}, this build needs {expected:?}"
            )),
            Err(error) => {
                warn!(error.message = %error, "database is not ready");
                Err("the database does not answer".to_owned())
            }
        }
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
}
