//! The DNS side: one writer per zone at a time, across every process sharing the database
//! (a PostgreSQL advisory lock elects it), applying everything the zone owes in one batch
//! (group commit: with Dynadot, one `get_dns` and one `set_dns2` for a whole burst), settling
//! each change and waking its waiter. The table is the queue: every owed change is on its row,
//! written before DNS, so a crash anywhere converges through the reconciler. Also what PDM
//! knows of each zone: its room and the records PDM did not write.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::{info, warn};

use crate::dns::{Change, DnsError, DnsProvider, ForeignRecords, SovereignRecords, ZoneUsage};
use crate::domain::{ManagedDomains, PoolDomain, Subdomain};
use crate::metrics::Metrics;
use crate::service::{DnsRefusal, DnsSync, Drift, DriftRecord};
use crate::store::{Actor, Allocation, DnsState, Landed, State, Store, ZoneRoom, ZoneSeen};
use crate::{Config, Error};

/// How many owed changes of one zone a batch takes at most.
const BATCH: i64 = 200;
/// How old a zone's measured room may grow before the reconciler measures it again.
const ZONE_REFRESH_AGE: Duration = Duration::from_secs(300);

/// Writes DNS for every zone; shared by the requests and the maintenance run of a process.
pub struct ZoneWriter {
    store: Arc<dyn Store>,
    dns: Arc<dyn DnsProvider>,
    domains: ManagedDomains,
    hosts: Vec<String>,
    foreign: ForeignRecords,
    /// A refused commit's reservation runs this long from when it was made, as before.
    reservation_ttl: Duration,
    /// First retry delay of a failed DNS change; doubles per attempt.
    retry_base: Duration,
    /// Longest a request waits for its change to land before answering 202.
    wait: Duration,
    metrics: Arc<Metrics>,
    /// One writer per zone in this process, so that waiters for the cross-process lock do not
    /// each hold a database connection, and so that a waiter can see its change settled by
    /// the writer before it and return without taking the lock.
    gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Settled>>>>,
}

/// How each row of a batch ended: `(subdomain, version)` and its outcome.
type Settled = Vec<((String, i64), DnsSync)>;

/// What `batch` did with `version` of `sub`'s change, if it took it.
fn outcome_of(batch: &Settled, sub: &Subdomain, version: i64) -> Option<DnsSync> {
    batch
        .iter()
        .find(|(key, _)| key.0 == sub.as_str() && key.1 == version)
        .map(|(_, outcome)| outcome.clone())
}

impl ZoneWriter {
    pub fn new(
        store: Arc<dyn Store>,
        dns: Arc<dyn DnsProvider>,
        metrics: Arc<Metrics>,
        config: &Config,
    ) -> Self {
        Self {
            store,
            dns,
            domains: config.managed_domains.clone(),
            hosts: config.sovereign_hosts.clone(),
            foreign: config.foreign_records,
            reservation_ttl: config.reservation_ttl,
            retry_base: config.sweeper_interval,
            wait: config.dns_wait,
            metrics,
            gates: Mutex::default(),
        }
    }

    pub fn provider(&self) -> &dyn DnsProvider {
        self.dns.as_ref()
    }

    /// Makes DNS hold `version` of `sub`'s row, in a batch with whatever else its zone owes,
    /// waiting at most `PDM_DNS_WAIT`: then `Pending`, while the batch goes on (it is never
    /// cut short mid-write) and the reconciler covers a failure.
    pub async fn sync(
        self: &Arc<Self>,
        pool: &PoolDomain,
        sub: &Subdomain,
        version: i64,
        actor: &Actor,
    ) -> DnsSync {
        let writer = self.clone();
        let (pool, sub, actor) = (pool.clone(), sub.clone(), actor.clone());
        let settling =
            tokio::spawn(async move { writer.settle(&pool, &sub, version, &actor).await });
        match tokio::time::timeout(self.wait, settling).await {
            Ok(Ok(Ok(sync))) => sync,
            Ok(Ok(Err(error))) => {
                warn!(error.message = %error, "DNS change stays pending");
                DnsSync::Pending
            }
            Ok(Err(panicked)) => {
                warn!(error.message = %panicked, "DNS writer failed; the change stays pending");
                DnsSync::Pending
            }
            Err(_) => DnsSync::Pending,
        }
    }

    /// Waits for the zone's writer in this process; the change may have been settled by the
    /// batch before, else this one writes, under the cross-process lock.
    async fn settle(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        version: i64,
        actor: &Actor,
    ) -> Result<DnsSync, Error> {
        let gate = self.gate(pool);
        let (mut last_batch, waited) = match gate.clone().try_lock_owned() {
            Ok(turn) => (turn, false),
            Err(_) => (gate.lock_owned().await, true),
        };
        // Having waited, the batch that ran meanwhile may have taken the change: woken, done.
        // (One that ran before this request came is no answer: a retried commit retries.)
        if waited {
            if let Some(sync) = outcome_of(&last_batch, sub, version) {
                return Ok(sync);
            }
            if let Some(sync) = self.already(pool, sub, version).await? {
                return Ok(sync);
            }
        }
        let settled = self.write_owed(pool, Some(sub), actor).await?;
        let sync = outcome_of(&settled, sub, version);
        *last_batch = settled;
        match sync {
            Some(sync) => Ok(sync),
            // Not owed when the batch read the zone: another process's batch settled it, or a
            // newer change replaced it (whoever made that one syncs it).
            None => Ok(self
                .already(pool, sub, version)
                .await?
                .unwrap_or(DnsSync::Pending)),
        }
    }

    /// How the change stands when someone else may have written it: `None` while still owed.
    async fn already(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        version: i64,
    ) -> Result<Option<DnsSync>, Error> {
        Ok(match self.store.find(pool, sub).await? {
            None => Some(DnsSync::Written),
            Some(row) if row.dns_version != version || row.dns_state == DnsState::Synced => {
                Some(DnsSync::Written)
            }
            Some(_) => None,
        })
    }

    /// The zone's turn in this process, holding what the last batch did.
    fn gate(&self, pool: &PoolDomain) -> Arc<tokio::sync::Mutex<Settled>> {
        self.gates
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(self.dns.lock_key(pool))
            .or_default()
            .clone()
    }

    /// Runs `work` while no other DNS change of the pool's zone runs, in any process sharing
    /// the database.
    async fn exclusively<T>(
        &self,
        pool: &PoolDomain,
        work: impl Future<Output = T>,
    ) -> Result<T, Error> {
        let lock = self.store.lock(&self.dns.lock_key(pool)).await?;
        let done = work.await;
        lock.release().await;
        Ok(done)
    }

    /// Applies everything the zone owes (with `asked`'s change, due or not) in one batch under
    /// the zone's lock, and records each change's outcome, in the name of `actor`.
    async fn write_owed(
        &self,
        pool: &PoolDomain,
        asked: Option<&Subdomain>,
        actor: &Actor,
    ) -> Result<Settled, Error> {
        // The rest of a burst writes its rows meanwhile, so that one batch takes them all.
        let window = self.dns.batch_window();
        if !window.is_zero() {
            tokio::time::sleep(window).await;
        }
        let (lock, rows) = self
            .store
            .lock_owed(&self.dns.lock_key(pool), pool, asked, BATCH)
            .await?;
        let written = self.write_rows(pool, rows, actor).await;
        lock.release().await;
        written
    }

    /// Applies `rows`' changes in one batch and records each one's outcome.
    async fn write_rows(
        &self,
        pool: &PoolDomain,
        rows: Vec<Allocation>,
        actor: &Actor,
    ) -> Result<Settled, Error> {
        let mut landed = Vec::new();
        let mut writing = Vec::new();
        for row in rows {
            match self.change_of(pool, &row) {
                Some(change) => writing.push((row, change)),
                // Nothing to publish (a row without an address): DNS already holds it.
                None => landed.push(Landed {
                    sub: row.subdomain,
                    version: row.dns_version,
                    detail: None,
                }),
            }
        }
        let mut unsettled = Vec::new();
        let mut zone = None;
        if !writing.is_empty() {
            let changes: Vec<Change> = writing.iter().map(|(_, change)| change.clone()).collect();
            // Each change took the batch's time to land: that is what its metrics record.
            let started = std::time::Instant::now();
            let applied = self.dns.apply(pool, &changes, self.foreign).await;
            let took = started.elapsed();
            let outcomes = match applied {
                Ok(applied) => {
                    zone = applied.zone;
                    applied.outcomes
                }
                Err(error) => writing.iter().map(|_| Err(error.clone())).collect(),
            };
            unsettled = self
                .record_outcomes(pool, &writing, (&outcomes, took), actor, &mut landed)
                .await?;
        }
        // Settled first, so that the zone's new records count as owned when it is saved.
        let done = self.store.settle(pool, &landed, actor).await?;
        let mut settled: Settled = landed
            .into_iter()
            .map(|l| {
                let outcome = if done.contains(&l.sub) {
                    DnsSync::Written
                } else {
                    DnsSync::Pending
                };
                ((l.sub, l.version), outcome)
            })
            .collect();
        settled.extend(unsettled);
        if let Some(zone) = zone {
            self.save_zone(pool, &zone).await?;
        }
        Ok(settled)
    }

    /// Adds each change that landed to `landed`, for one settle of the batch; puts each commit
    /// the zone refused for good back to its reservation, defers every other failure (with
    /// backoff), and returns how those ended.
    async fn record_outcomes(
        &self,
        pool: &PoolDomain,
        writing: &[(Allocation, Change)],
        (outcomes, took): (&[Result<Vec<crate::dns::ZoneRecord>, DnsError>], Duration),
        actor: &Actor,
        landed: &mut Vec<Landed>,
    ) -> Result<Settled, Error> {
        let mut unsettled = Vec::new();
        let missing = Err(DnsError::Unavailable(
            "the provider gave no outcome".to_owned(),
        ));
        for (i, (row, change)) in writing.iter().enumerate() {
            let sub = &change.records().sub;
            let outcome = outcomes.get(i).unwrap_or(&missing);
            self.metrics.record_dns(
                self.dns.name(),
                change.operation(),
                outcome.as_ref().map_or_else(DnsError::outcome, |_| "ok"),
                took,
            );
            match outcome {
                Ok(adopted) => {
                    let detail = (!adopted.is_empty()).then(|| {
                        let replaced = crate::dns::listed(adopted);
                        warn!(%pool, %sub, replaced, "adopted records PDM did not write");
                        format!("replaced records PDM did not write: {replaced}")
                    });
                    landed.push(Landed {
                        sub: row.subdomain.clone(),
                        version: row.dns_version,
                        detail,
                    });
                }
                Err(error) => {
                    warn!(provider = self.dns.name(), %pool, %sub, error.message = %error, "DNS change failed");
                    if let DnsError::Conflict(standing) = error {
                        self.store.note_foreign_records(pool, sub, standing).await?;
                    }
                    let outcome = self.unsettled(pool, row, change, error, actor).await?;
                    unsettled.push(((row.subdomain.clone(), row.dns_version), outcome));
                }
            }
        }
        Ok(unsettled)
    }

    /// A failed change: a commit the zone refuses for a reason retrying cannot fix goes back
    /// to its reservation (`Refused`); anything else is retried with backoff (`Pending`).
    async fn unsettled(
        &self,
        pool: &PoolDomain,
        row: &Allocation,
        change: &Change,
        error: &DnsError,
        actor: &Actor,
    ) -> Result<DnsSync, Error> {
        let sub = &change.records().sub;
        let reason = error.classified();
        let refusal = match (change, error) {
            (Change::Publish(_), DnsError::Conflict(standing)) => Some(DnsRefusal::Conflict(
                conflict_of(pool, sub, standing).to_string(),
            )),
            (Change::Publish(_), DnsError::Full(why)) => Some(DnsRefusal::Full(why.clone())),
            _ => None,
        };
        if let Some(refusal) = refusal {
            let ttl = self.reservation_ttl;
            if self
                .store
                .refuse(pool, sub, row.dns_version, ttl, &reason, actor)
                .await?
            {
                warn!(%pool, %sub, reason, "commit refused by the zone; back to its reservation");
                return Ok(DnsSync::Refused(refusal));
            }
        }
        self.store
            .defer(pool, sub, row.dns_version, &reason, self.retry_base, actor)
            .await?;
        Ok(DnsSync::Pending)
    }

    /// The change `row` owes: publish an active allocation's records, withdraw a releasing
    /// one's; `None` when there is nothing to write (no address).
    fn change_of(&self, pool: &PoolDomain, row: &Allocation) -> Option<Change> {
        let target = row.load_balancer_ip.as_deref()?.parse().ok()?;
        if row.state != State::Active {
            return None;
        }
        let console = row
            .console_load_balancer_ip
            .as_deref()
            .and_then(|ip| ip.parse().ok())
            .map(|ip| (ip, row.console_hosts.as_deref().unwrap_or_default()));
        let records = SovereignRecords::new(
            pool.clone(),
            Subdomain::parse(&row.subdomain).ok()?,
            row.dns_hosts.as_deref().unwrap_or(&self.hosts),
            target,
            console,
        );
        Some(if row.releasing_since.is_some() {
            Change::Withdraw(records)
        } else {
            Change::Publish(records)
        })
    }

    /// The maintenance run's DNS part: measures stale zones, then writes every zone with a
    /// change due, one batch each, through the same gate and lock as requests.
    pub async fn reconcile(&self) -> Result<(u32, u32, u32), Error> {
        let (mut measured, mut synced, mut pending) = (0, 0, 0);
        if self.dns.reads_zones() {
            let pools: Vec<String> = self.domains.iter().map(ToString::to_string).collect();
            for stale in self.store.stale_zones(&pools, ZONE_REFRESH_AGE).await? {
                let pool = self.domains.resolve(&stale)?;
                match self.measure(&pool).await {
                    Ok(_) => measured += 1,
                    Err(error) => warn!(%pool, error.message = %error, "cannot measure the zone"),
                }
            }
        }
        for raw_pool in self.store.zones_owing().await? {
            let Ok(pool) = self.domains.resolve(&raw_pool) else {
                warn!(pool = raw_pool, "pending rows of an unmanaged pool");
                continue;
            };
            let gate = self.gate(&pool);
            let mut last_batch = gate.lock().await;
            let settled = self
                .write_owed(&pool, None, &Actor::job("reconciler"))
                .await?;
            for (_, outcome) in &settled {
                match outcome {
                    DnsSync::Written => synced += 1,
                    DnsSync::Pending => pending += 1,
                    // Back to its reservation: nothing is owed any more.
                    DnsSync::Refused(_) => {}
                }
            }
            *last_batch = settled;
        }
        if synced + pending > 0 {
            info!(synced, pending, "reconciled DNS");
        }
        Ok((measured, synced, pending))
    }

    /// Runs one provider operation, recording its outcome and time.
    async fn timed_dns<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, DnsError>>,
    ) -> Result<T, DnsError> {
        let started = std::time::Instant::now();
        let result = call.await;
        let outcome = result.as_ref().map_or_else(DnsError::outcome, |_| "ok");
        self.metrics
            .record_dns(self.dns.name(), operation, outcome, started.elapsed());
        result
    }

    /// Why check answers that `sub` is not available, if it is not: one statement, reading
    /// the row, the zone's room and what PDM last saw of the zone. A zone never read is
    /// read once first (the provider has a record limit, or shows its zone).
    pub async fn refusal(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
        fqdn: &str,
    ) -> Result<Option<(&'static str, String)>, Error> {
        let hosts = self.hosts.len();
        let mut seen = self.store.check_name(pool, sub, hosts).await?;
        let free = seen.state.is_none() || seen.lapsed;
        if free && !seen.zone_seen && self.dns.reads_zones() {
            // Check stays an answer; reserve will refuse if the zone is still unknown. It never
            // waits for the zone's lock: an open route must not queue on a slow provider.
            match self.measure_unless_busy(pool).await {
                Ok(true) => seen = self.store.check_name(pool, sub, hosts).await?,
                Ok(false) => info!(%pool, "zone busy; check answers from the table"),
                Err(error) => warn!(error.message = %error, "zone unknown; check assumes it fits"),
            }
        }
        Ok(match seen.state {
            Some(State::Active) if seen.releasing => Some((
                "releasing-state",
                format!("{fqdn} is being released: its records are still being removed"),
            )),
            Some(State::Active) => Some(("active-state", format!("{fqdn} is allocated"))),
            Some(State::Reserved) if !seen.lapsed => {
                Some(("reserved-state", format!("{fqdn} is held by a reservation")))
            }
            _ if seen.frozen => {
                let frozen = Error::PoolFrozen(format!("{pool} takes no reservation now"));
                Some((frozen.code(), frozen.to_string()))
            }
            _ if !seen.foreign.is_empty() && self.foreign == ForeignRecords::Refuse => {
                let conflict = conflict_of(pool, sub, &seen.foreign);
                Some((conflict.code(), conflict.to_string()))
            }
            _ => match (seen.room, seen.held) {
                (Some(room), Some(held)) if !fits(room, held, hosts) => {
                    Some(("pool-full", format!("{pool} cannot take another sovereign")))
                }
                _ => None,
            },
        })
    }

    /// Whether a name is refused while records PDM did not write stand at its host names.
    pub fn refuses_foreign(&self) -> bool {
        self.foreign == ForeignRecords::Refuse
    }

    /// `dns-conflict` when, as PDM last saw the zone, records it did not write stand at the
    /// sovereign's host names, unless the operator lets PDM adopt them.
    pub async fn foreign_conflict(
        &self,
        pool: &PoolDomain,
        sub: &Subdomain,
    ) -> Result<Option<Error>, Error> {
        if self.foreign == ForeignRecords::Adopt {
            return Ok(None);
        }
        let standing = self.store.foreign_records_at(pool, sub).await?;
        Ok((!standing.is_empty()).then(|| conflict_of(pool, sub, &standing)))
    }

    /// Compares the pool's live zone with the table: PDM records that should stand but do
    /// not, and PDM-shaped records no allocation owns. Foreign records are never touched.
    /// `None` when the provider cannot show its zone (log-only).
    pub async fn drift(&self, pool: &PoolDomain) -> Result<Option<Drift>, Error> {
        let records = self
            .exclusively(pool, self.timed_dns("read", self.dns.address_records(pool)))
            .await?;
        let Some(records) =
            records.map_err(|e| Error::Unavailable("the DNS provider", e.into()))?
        else {
            return Ok(None);
        };
        let mut drift = Drift::default();
        let mut held = std::collections::BTreeMap::new();
        for allocation in self.store.list_all(pool).await? {
            held.insert(allocation.subdomain.clone(), allocation);
        }
        for allocation in held.values() {
            let (Some(ip), Some(hosts)) = (&allocation.load_balancer_ip, &allocation.dns_hosts)
            else {
                continue;
            };
            if allocation.releasing_since.is_some() {
                continue;
            }
            for host in hosts {
                let name = format!("{host}.{}", allocation.subdomain);
                let present = records
                    .iter()
                    .any(|(n, value)| n.eq_ignore_ascii_case(&name) && value == ip);
                if !present {
                    let owed = allocation.dns_state == DnsState::Pending;
                    drift.missing.push(DriftRecord {
                        name,
                        value: ip.clone(),
                        owed,
                    });
                }
            }
        }
        for (name, value) in &records {
            let Some((host, label)) = name
                .to_ascii_lowercase()
                .split_once('.')
                .map(|(h, l)| (h.to_owned(), l.to_owned()))
            else {
                continue;
            };
            let pdm_shaped = self.hosts.contains(&host)
                || crate::dns::DEFAULT_SOVEREIGN_HOSTS.contains(&host.as_str());
            if !pdm_shaped || Subdomain::parse(&label).is_err() {
                continue;
            }
            let owner = held.get(&label).filter(|a| a.state == State::Active);
            let owned = owner.is_some_and(|a| {
                a.releasing_since.is_none()
                    && a.dns_hosts
                        .as_ref()
                        .is_some_and(|hosts| hosts.contains(&host))
            });
            if !owned {
                let owed = owner.is_some_and(|a| a.dns_state == DnsState::Pending);
                drift.orphaned.push(DriftRecord {
                    name: name.clone(),
                    value: value.clone(),
                    owed,
                });
            }
        }
        if let Some(seen) = self.measure(pool).await? {
            drift.foreign = seen.foreign_at_labels.into_iter().map(|(_, r)| r).collect();
        }
        Ok(Some(drift))
    }

    /// The zone's room when the provider limits records: as last measured, or measured now
    /// when it never was.
    pub async fn room(&self, pool: &PoolDomain) -> Result<Option<ZoneRoom>, Error> {
        if self.dns.record_limit().is_none() {
            return Ok(None);
        }
        match self.store.zone_room(pool).await? {
            Some(room) => Ok(Some(room)),
            None => Ok(self.measure(pool).await?.and_then(|seen| seen.room())),
        }
    }

    /// Measures the zone when its lock is free now; `false`, at once, while a writer holds it.
    async fn measure_unless_busy(&self, pool: &PoolDomain) -> Result<bool, Error> {
        match self.store.try_lock(&self.dns.lock_key(pool)).await? {
            Some(lock) => self.measure_holding(pool, lock).await.map(|_| true),
            None => Ok(false),
        }
    }

    /// Reads the zone (under its lock: the provider may allow one request at a time) and
    /// saves what it holds.
    async fn measure(&self, pool: &PoolDomain) -> Result<Option<ZoneSeen>, Error> {
        let lock = self.store.lock(&self.dns.lock_key(pool)).await?;
        self.measure_holding(pool, lock).await
    }

    /// Reads the zone while `lock`, the zone's, is held, then saves what it holds.
    async fn measure_holding(
        &self,
        pool: &PoolDomain,
        lock: crate::store::StoreLock,
    ) -> Result<Option<ZoneSeen>, Error> {
        let usage = self.timed_dns("measure", self.dns.usage(pool)).await;
        lock.release().await;
        let usage = usage.map_err(|e| Error::Unavailable("the DNS provider", e.into()))?;
        match usage {
            Some(usage) => self.save_zone(pool, &usage).await.map(Some),
            None => Ok(None),
        }
    }

    /// Saves what the zone holds: its room, when it has a limit, and the records no
    /// allocation owns, those at a sovereign's host names by the label they would block.
    async fn save_zone(&self, pool: &PoolDomain, usage: &ZoneUsage) -> Result<ZoneSeen, Error> {
        let owned = self.store.owned_names(pool).await?;
        let foreign: Vec<_> = usage
            .records
            .iter()
            .filter(|record| !ZoneUsage::is_owned(record, &owned))
            .collect();
        // At or under a label, at a sovereign's host names or not: a label is free only when
        // the zone holds nothing there.
        let foreign_at_labels = foreign
            .iter()
            .filter_map(|record| {
                let label = record.label()?;
                Subdomain::parse(label)
                    .is_ok()
                    .then(|| (label.to_owned(), (*record).clone()))
            })
            .collect();
        let foreign_records = i32::try_from(foreign.len()).unwrap_or(i32::MAX);
        let record_limit = usage
            .record_limit
            .map(|limit| i32::try_from(limit).unwrap_or(i32::MAX));
        let seen = ZoneSeen {
            record_limit,
            foreign_records,
            foreign_at_labels,
        };
        self.store.save_zone(pool, &seen).await?;
        Ok(seen)
    }
}

/// `dns-conflict`, naming the records in the way.
fn conflict_of(pool: &PoolDomain, sub: &Subdomain, standing: &[crate::dns::ZoneRecord]) -> Error {
    Error::DnsConflict(format!(
        "records PDM did not write stand at {}'s host names: {}",
        pool.fqdn(sub).unwrap_or_default(),
        crate::dns::listed(standing)
    ))
}

/// Whether one more sovereign's `hosts` records fit beside the zone's foreign records and the
/// `held` records of the pool's other allocations.
fn fits(room: ZoneRoom, held: i64, hosts: usize) -> bool {
    let needed = i64::from(room.foreign_records) + held + i64::try_from(hosts).unwrap_or(i64::MAX);
    needed <= i64::from(room.record_limit)
}
