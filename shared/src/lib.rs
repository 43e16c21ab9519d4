//! PDM core: the only authority for subdomains of the OpenOva pool domains.
//!
//! Domain types ([`domain`]), the allocation state machine ([`service`]) over PostgreSQL
//! ([`store`]), DNS providers ([`dns`]) and the HTTP contract as tower services ([`http`]).
//! No HTTP framework and no Lambda runtime: the binaries in `functions/` choose those.

pub mod address;
pub mod config;
pub mod credentials;
pub mod dns;
pub mod domain;
mod error;
pub mod http;
pub mod metrics;
pub mod outbound;
pub mod registrar;
pub mod resolver;
pub mod scope;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod zone_writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

use crate::config::Database;
use crate::store::{PgStore, SqliteStore, Store};

pub use config::Config;
pub use error::Error;
pub use service::Pdm;

/// The PostgreSQL schema, embedded. Running it from several replicas at once is safe: sqlx
/// holds a PostgreSQL advisory lock while it migrates.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");
/// The embedded SQLite store's schema, kept beside PostgreSQL's.
pub static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// How long a request waits for a database connection before answering 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Everything a handler needs, built once per process.
pub struct Ctx {
    pub pdm: Pdm,
    /// Who may call guarded routes: the environment's credentials and the stored ones.
    pub credentials: credentials::Credentials,
    pub limits: Limits,
    /// The customers' registrars, for bring-your-own domains.
    pub registrars: registrar::Registrars,
    /// Rate limits per credential and client address.
    pub throttle: http::throttle::Throttle,
}

/// How much the HTTP layer takes on before it refuses.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_in_flight: usize,
    pub request_timeout: Duration,
    /// How long a client may take to send its body (before it takes a slot).
    pub body_timeout: Duration,
}

impl Ctx {
    /// Connects lazily (a cold start does not wait for PostgreSQL, and an outage heals without
    /// a restart) and picks the DNS provider, saying loudly what was defaulted.
    pub fn from_config(config: &Config) -> anyhow::Result<Arc<Self>> {
        match &config.database {
            Database::Postgres(url) => Self::on_postgres(url, config),
            Database::Sqlite { path, defaulted } => Ok(Self::with_store(
                config,
                open_sqlite(path, *defaulted, config),
                dns_provider(config)?,
            )),
        }
    }

    /// As [`Ctx::from_config`], on the PostgreSQL at `url`: what processes that share their
    /// database use (the per-endpoint functions), so that their binaries link no embedded
    /// store.
    pub fn on_postgres(url: &SecretString, config: &Config) -> anyhow::Result<Arc<Self>> {
        let store = connect_postgres(url, config)?;
        Ok(Self::with_store(config, store, dns_provider(config)?))
    }

    /// For tests and tools that bring their own PostgreSQL pool and provider.
    /// The store connects to `pool`'s database, as many connections and waiting as long.
    pub fn with_pool(config: &Config, pool: &PgPool, dns: Arc<dyn dns::DnsProvider>) -> Arc<Self> {
        Self::with_store(config, Arc::new(PgStore::like(pool)), dns)
    }

    pub fn with_store(
        config: &Config,
        store: Arc<dyn Store>,
        dns: Arc<dyn dns::DnsProvider>,
    ) -> Arc<Self> {
        Self::around(config, Pdm::new(store, dns, config))
    }

    /// The shared state around `pdm`, with `config`'s tokens and limits.
    pub fn around(config: &Config, pdm: Pdm) -> Arc<Self> {
        Arc::new(Self {
            registrars: registrar::Registrars::from_config(
                &config.registrar_urls,
                config.registrar_timeout,
            ),
            pdm,
            credentials: credentials::Credentials::new(config.api_tokens.clone()),
            throttle: http::throttle::Throttle::new(
                config.rate_limits.as_ref(),
                config.trusted_proxies.clone(),
            ),
            limits: Limits {
                max_in_flight: config.max_in_flight,
                request_timeout: config.request_timeout,
                body_timeout: config.body_timeout,
            },
        })
    }
}

fn connect_postgres(url: &SecretString, config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    // sqlx's parse errors do not quote the URL, but say nothing of it either way: it may hold
    // a password.
    let options = PgConnectOptions::from_str(url.expose_secret())
        .map_err(|_| anyhow::anyhow!("PDM_DATABASE_URL is not a valid PostgreSQL URL"))?;
    tracing::info!(
        database = %format_args!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        ),
        "store: PostgreSQL"
    );
    Ok(Arc::new(PgStore::new(
        options,
        config.db_max_connections,
        ACQUIRE_TIMEOUT,
    )))
}

fn open_sqlite(path: &std::path::Path, defaulted: bool, config: &Config) -> Arc<dyn Store> {
    if defaulted {
        tracing::warn!(
            path = %path.display(),
            "PDM_DATABASE_URL is not set: using the EMBEDDED SQLite store, for local runs \
             by one process; production uses PostgreSQL"
        );
    } else {
        tracing::info!(path = %path.display(), "store: SQLite");
    }
    Arc::new(SqliteStore::new(connect_sqlite(
        path,
        config.db_max_connections,
    )))
}

/// A lazily connecting SQLite pool on `path`, created when missing.
pub fn connect_sqlite(path: &std::path::Path, max_connections: u32) -> sqlx::SqlitePool {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        // Readers never wait for the writer; writers queue on the busy timeout.
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(10));
    SqlitePoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(options)
}

fn dns_provider(config: &Config) -> anyhow::Result<Arc<dyn dns::DnsProvider>> {
    use config::DnsProviderKind;
    // Config::from_lookup has made sure each chosen provider has what it needs.
    let missing = || anyhow::anyhow!("DNS provider configuration is incomplete");
    match config.dns_provider {
        DnsProviderKind::LogOnly => {
            tracing::warn!(
                "PDM_DNS_PROVIDER is log, or no provider's key is set (DYNADOT_API_KEY, or \
                 PDNS_API_URL and PDNS_API_KEY): using the LOG-ONLY DNS provider, no records \
                 will be written"
            );
            Ok(Arc::new(dns::LogOnly))
        }
        DnsProviderKind::Dynadot => {
            let dynadot = dns::dynadot::Dynadot::new(
                &config.dynadot_api_url,
                config.dynadot_api_key.clone().ok_or_else(missing)?,
                config.dynadot_timeout,
                dns::RetryPolicy::default(),
            )?;
            tracing::info!(hosts = ?config.sovereign_hosts, "DNS provider: Dynadot api3");
            Ok(Arc::new(dynadot))
        }
        DnsProviderKind::PowerDns => {
            let url = config.pdns_api_url.as_deref().ok_or_else(missing)?;
            let powerdns = dns::powerdns::PowerDns::new(
                url,
                &config.pdns_server_id,
                config.pdns_api_key.clone().ok_or_else(missing)?,
                config.pdns_timeout,
                dns::RetryPolicy::default(),
                config.pdns_delegation.clone(),
            )?;
            tracing::info!(
                api = url, server = %config.pdns_server_id, hosts = ?config.sovereign_hosts,
                delegation = ?config.pdns_delegation, "DNS provider: PowerDNS"
            );
            Ok(Arc::new(powerdns))
        }
    }
}
