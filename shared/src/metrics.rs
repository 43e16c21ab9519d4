//! Prometheus metrics. Counters and histograms are recorded as PDM works; the state of the
//! table (allocations, owed DNS changes) is read from the database when scraped, so every
//! replica reports the same truth.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    /// Folded to the known methods and `other`: no request can add a series.
    method: &'static str,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DnsLabels {
    provider: &'static str,
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DnsOperationLabels {
    provider: &'static str,
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AllocationLabels {
    pool: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabels {
    state: &'static str,
}

/// What the table holds when scraped.
#[derive(Debug, Clone, Default)]
pub struct TableState {
    /// (pool, state) → count, for states `reserved`, `active` and `releasing`.
    pub allocations: Vec<(String, &'static str, i64)>,
    pub dns_pending: i64,
    pub db_connections_idle: u32,
    pub db_connections_used: u32,
}

impl TableState {
    /// From (pool, state, count) rows, the pending count and the pool's (idle, size).
    pub fn from_counts(
        rows: Vec<(String, String, i64)>,
        dns_pending: i64,
        (idle, size): (u32, u32),
    ) -> Self {
        let allocations = rows
            .into_iter()
            .map(|(pool, state, count)| {
                let state = match state.as_str() {
                    "reserved" => "reserved",
                    "active" => "active",
                    _ => "releasing",
                };
                (pool, state, count)
            })
            .collect();
        Self {
            allocations,
            dns_pending,
            db_connections_idle: idle.min(size),
            db_connections_used: size.saturating_sub(idle),
        }
    }
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram>,
    expired: Counter,
    dns_calls: Family<DnsLabels, Counter>,
    dns_seconds: Family<DnsOperationLabels, Histogram>,
    allocations: Family<AllocationLabels, Gauge>,
    dns_pending: Gauge,
    db_connections: Family<ConnectionLabels, Gauge>,
    table_age: Gauge,
    throttled: Family<ClassLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabels {
    class: &'static str,
}

/// 1 ms to about 33 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("pdm");
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds =
            Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        let expired = Counter::default();
        let dns_calls = Family::<DnsLabels, Counter>::default();
        let dns_seconds = Family::<DnsOperationLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> _,
        );
        let allocations = Family::<AllocationLabels, Gauge>::default();
        let dns_pending = Gauge::default();
        let db_connections = Family::<ConnectionLabels, Gauge>::default();
        let table_age = Gauge::default();
        let throttled = Family::<ClassLabels, Counter>::default();
        registry.register(
            "throttled",
            "Requests refused by a rate limit (429), by class",
            throttled.clone(),
        );
        registry.register(
            "table_state_age_seconds",
            "How old the table's gauges (allocations, dns_pending, db_connections) are: they are \
             read at most every few seconds, and kept while the database does not answer",
            table_age.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            request_seconds.clone(),
        );
        registry.register(
            "reservations_expired",
            "Lapsed reservations deleted by the sweeper",
            expired.clone(),
        );
        registry.register(
            "dns_changes",
            "DNS provider operations, by provider, operation and outcome",
            dns_calls.clone(),
        );
        registry.register(
            "dns_change_duration_seconds",
            "Time a DNS provider operation took",
            dns_seconds.clone(),
        );
        registry.register(
            "allocations",
            "Allocations in the table, by pool and state (lapsed reservations excluded)",
            allocations.clone(),
        );
        registry.register(
            "dns_pending",
            "Allocations whose DNS change is still owed",
            dns_pending.clone(),
        );
        registry.register(
            "db_connections",
            "Database pool connections, by state",
            db_connections.clone(),
        );
        Self {
            registry,
            requests,
            request_seconds,
            expired,
            dns_calls,
            dns_seconds,
            allocations,
            dns_pending,
            db_connections,
            table_age,
            throttled,
        }
    }
}

impl Metrics {
    /// `route` is the route's path template (`unmatched` for unknown paths).
    pub fn record_request(
        &self,
        route: &'static str,
        method: &'static str,
        status: u16,
        took: Duration,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status: status.to_string(),
            })
            .inc();
        self.request_seconds
            .get_or_create(&RouteLabels { route })
            .observe(took.as_secs_f64());
    }

    /// A request refused by a rate limit of `class` (`read`, `write`).
    pub fn record_throttled(&self, class: &'static str) {
        self.throttled.get_or_create(&ClassLabels { class }).inc();
    }

    pub fn record_expired(&self, count: u64) {
        self.expired.inc_by(count);
    }

    /// `outcome`: `ok`, `unavailable` or `refused`.
    pub fn record_dns(
        &self,
        provider: &'static str,
        operation: &'static str,
        outcome: &'static str,
        took: Duration,
    ) {
        self.dns_calls
            .get_or_create(&DnsLabels {
                provider,
                operation,
                outcome,
            })
            .inc();
        self.dns_seconds
            .get_or_create(&DnsOperationLabels {
                provider,
                operation,
            })
            .observe(took.as_secs_f64());
    }

    /// The text exposition, with the gauges set from `state`.
    /// The text exposition. With `state` the table's gauges are set from it; without, they
    /// keep what they last said, and `age`, when known, says how old that is.
    pub fn render(&self, state: Option<&TableState>, age: Option<Duration>) -> String {
        if let Some(age) = age {
            self.table_age
                .set(i64::try_from(age.as_secs()).unwrap_or(i64::MAX));
        }
        if let Some(state) = state {
            self.set_table_gauges(state);
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    fn set_table_gauges(&self, state: &TableState) {
        // Every (pool, state) seen so far is reset, so a drained state reads 0, not its past.
        self.allocations.clear();
        for (pool, allocation_state, count) in &state.allocations {
            self.allocations
                .get_or_create(&AllocationLabels {
                    pool: pool.clone(),
                    state: allocation_state,
                })
                .set(*count);
        }
        self.dns_pending.set(state.dns_pending);
        for (label, count) in [
            ("idle", state.db_connections_idle),
            ("used", state.db_connections_used),
        ] {
            self.db_connections
                .get_or_create(&ConnectionLabels { state: label })
                .set(i64::from(count));
        }
    }
}
