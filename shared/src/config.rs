//! Configuration from the environment, parsed once in `main` and passed down by value.
//! Handlers never read the environment.

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::dns::powerdns::{ChildZones, Delegation};
use crate::dns::{DEFAULT_SOVEREIGN_HOSTS, ForeignRecords};
use crate::domain::{ManagedDomains, Subdomain};
use crate::registrar::RegistrarUrls;
use crate::scope::{Caller, Scopes};

/// The embedded store's file when `PDM_DATABASE_URL` and `PDM_SQLITE_PATH` are unset, so that
/// a fresh checkout runs with no database server at all.
pub const DEFAULT_SQLITE_PATH: &str = "pdm.sqlite";
pub const DEFAULT_DYNADOT_API_URL: &str = "https://api.dynadot.com/api3.json";
const DEFAULT_MANAGED_DOMAINS: &str = "openova.io,omani.works";

#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    pub database: Database,
    pub db_max_connections: u32,
    pub dynadot_api_key: Option<SecretString>,
    pub dynadot_api_url: String,
    pub dynadot_timeout: Duration,
    /// Where records are written (`PDM_DNS_PROVIDER`; by default Dynadot when its key is set).
    pub dns_provider: DnsProviderKind,
    pub pdns_api_url: Option<String>,
    pub pdns_api_key: Option<SecretString>,
    pub pdns_server_id: String,
    pub pdns_timeout: Duration,
    /// How PowerDNS publishes a sovereign (`PDNS_DELEGATION`, `PDNS_NAMESERVERS`,
    /// `PDNS_DNSSEC`): a signed child zone by default.
    pub pdns_delegation: Delegation,
    /// Host labels each sovereign gets under its subdomain (`*` alone covers the others).
    pub sovereign_hosts: Vec<String>,
    /// Hosts that point at `consoleLoadBalancerIP` when a commit gives one
    /// (`PDM_CONSOLE_HOSTS`, default `console,api`).
    pub console_hosts: Vec<String>,
    /// `PDM_RATE_LIMITS`; `None` when `off`.
    pub rate_limits: Option<crate::http::throttle::RateLimits>,
    /// Proxies whose `X-Forwarded-For` names the client (`PDM_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// DNS servers the force-release gate asks (`PDM_RESOLVER`, `ip:port` list); none: the
    /// host's resolver.
    pub resolver: Vec<std::net::SocketAddr>,
    pub managed_domains: ManagedDomains,
    pub reservation_ttl: Duration,
    pub sweeper_interval: Duration,
    pub log_level: String,
    /// `json` (default) or `pretty` for people reading a terminal.
    pub log_format: LogFormat,
    /// Requests answered at once; more are refused with 503 instead of queueing without bound.
    pub max_in_flight: usize,
    /// Longest a request may take before it is answered 503.
    pub request_timeout: Duration,
    /// Empty: mutating endpoints are open (local runs), said loudly at startup.
    pub api_tokens: ApiTokens,
    /// Longest a client may take to send its request body (408 beyond).
    pub body_timeout: Duration,
    /// Longest a commit or release waits for its DNS change before answering 202.
    pub dns_wait: Duration,
    /// Publish private and shared load balancer addresses too (fleets with internal zones).
    pub allow_private_lb: bool,
    /// Whether a commit may replace records PDM did not write at the sovereign's names.
    pub foreign_records: ForeignRecords,
    /// How old an allocation must be before an operator may force-release it.
    pub force_release_grace: Duration,
    /// Where each registrar's API is, for bring-your-own domains.
    pub registrar_urls: RegistrarUrls,
    pub registrar_timeout: Duration,
}

/// A configuration value that could not be used, naming the variable but never its value.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        // An empty variable counts as unset, as in a shell's `${VAR:-default}`.
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let parsed = |name: &'static str, default: &str| -> (String, &'static str) {
            (var(name).unwrap_or_else(|| default.to_owned()), name)
        };

        let managed = var("DYNADOT_MANAGED_DOMAINS")
            .map(|v| (v, "DYNADOT_MANAGED_DOMAINS"))
            .or_else(|| var("DYNADOT_DOMAIN").map(|v| (v, "DYNADOT_DOMAIN")))
            .unwrap_or_else(|| {
                (
                    DEFAULT_MANAGED_DOMAINS.to_owned(),
                    "DYNADOT_MANAGED_DOMAINS",
                )
            });

        let dynadot_api_key = var("DYNADOT_API_KEY").map(|key| SecretString::from(key.trim()));
        let pdns_api_url = var("PDNS_API_URL").map(|url| url.trim().to_owned());
        let pdns_api_key = var("PDNS_API_KEY").map(|key| SecretString::from(key.trim()));
        let dns_provider = match var("PDM_DNS_PROVIDER").as_deref().map(str::trim) {
            None if dynadot_api_key.is_some() => DnsProviderKind::Dynadot,
            None if pdns_api_url.is_some() && pdns_api_key.is_some() => DnsProviderKind::PowerDns,
            None | Some("log") => DnsProviderKind::LogOnly,
            Some("dynadot") => DnsProviderKind::Dynadot,
            Some("powerdns") => DnsProviderKind::PowerDns,
            Some(_) => {
                return Err(ConfigError {
                    variable: "PDM_DNS_PROVIDER",
                    problem: "must be dynadot, powerdns or log".to_owned(),
                });
            }
        };
        let required = |variable: &'static str, set: bool| {
            if set {
                Ok(())
            } else {
                Err(ConfigError {
                    variable,
                    problem: format!("must be set when PDM_DNS_PROVIDER is {dns_provider}"),
                })
            }
        };
        match dns_provider {
            DnsProviderKind::Dynadot => required("DYNADOT_API_KEY", dynadot_api_key.is_some())?,
            DnsProviderKind::PowerDns => {
                required("PDNS_API_URL", pdns_api_url.is_some())?;
                required("PDNS_API_KEY", pdns_api_key.is_some())?;
            }
            DnsProviderKind::LogOnly => {}
        }
        let pdns_delegation = match parsed("PDNS_DELEGATION", "child-zone").0.trim() {
            "records" => Delegation::Records,
            "child-zone" => {
                let nameservers = parse_with(parsed("PDNS_NAMESERVERS", ""), nameservers)?;
                if dns_provider == DnsProviderKind::PowerDns && nameservers.is_empty() {
                    return Err(ConfigError {
                        variable: "PDNS_NAMESERVERS",
                        problem: "must name the fleet's name servers when PDNS_DELEGATION is \
                                  child-zone (the default); or set PDNS_DELEGATION=records"
                            .to_owned(),
                    });
                }
                Delegation::ChildZone(ChildZones {
                    nameservers,
                    dnssec: parse_with(parsed("PDNS_DNSSEC", "true"), boolean)?,
                })
            }
            _ => {
                return Err(ConfigError {
                    variable: "PDNS_DELEGATION",
                    problem: "must be child-zone or records".to_owned(),
                });
            }
        };

        Ok(Self {
            port: parse_with(parsed("PORT", "8080"), |v| v.trim().parse::<u16>())?,
            database: match var("PDM_DATABASE_URL") {
                Some(url) => parse_with((url, "PDM_DATABASE_URL"), Database::from_url)?,
                None => Database::Sqlite {
                    path: parsed("PDM_SQLITE_PATH", DEFAULT_SQLITE_PATH)
                        .0
                        .trim()
                        .into(),
                    defaulted: true,
                },
            },
            db_max_connections: parse_with(
                parsed("PDM_DB_MAX_CONNECTIONS", "10"),
                positive_number,
            )?,
            dynadot_api_key,
            dynadot_api_url: parsed("DYNADOT_API_URL", DEFAULT_DYNADOT_API_URL).0,
            dynadot_timeout: parse_with(parsed("DYNADOT_TIMEOUT", "30s"), positive_duration)?,
            dns_provider,
            pdns_api_url,
            pdns_api_key,
            pdns_server_id: parsed("PDNS_SERVER_ID", "localhost").0.trim().to_owned(),
            pdns_timeout: parse_with(parsed("PDNS_TIMEOUT", "10s"), positive_duration)?,
            pdns_delegation,
            sovereign_hosts: parse_with(
                parsed("PDM_SOVEREIGN_HOSTS", &DEFAULT_SOVEREIGN_HOSTS.join(",")),
                sovereign_hosts,
            )?,
            rate_limits: parse_with(
                parsed(
                    "PDM_RATE_LIMITS",
                    crate::http::throttle::RateLimits::DEFAULT,
                ),
                crate::http::throttle::RateLimits::parse,
            )?,
            trusted_proxies: parse_with(parsed("PDM_TRUSTED_PROXIES", ""), |list| {
                list.split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|proxy| !proxy.is_empty())
                    .map(|proxy| {
                        proxy
                            .parse()
                            .map_err(|_| format!("{proxy:?} is not an IP address"))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })?,
            resolver: parse_with(parsed("PDM_RESOLVER", ""), |list| {
                list.split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|server| !server.is_empty())
                    .map(|server| {
                        server
                            .parse()
                            .map_err(|_| format!("{server:?} is not an ip:port address"))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })?,
            console_hosts: parse_with(parsed("PDM_CONSOLE_HOSTS", "console,api"), sovereign_hosts)?,
            managed_domains: parse_with(managed, ManagedDomains::parse)?,
            reservation_ttl: parse_with(parsed("PDM_RESERVATION_TTL", "10m"), positive_duration)?,
            sweeper_interval: parse_with(parsed("PDM_SWEEPER_INTERVAL", "30s"), positive_duration)?,
            log_level: parsed("PDM_LOG_LEVEL", "info").0,
            log_format: parse_with(parsed("PDM_LOG_FORMAT", "json"), |v| match v.trim() {
                "json" => Ok(LogFormat::Json),
                "pretty" => Ok(LogFormat::Pretty),
                _ => Err("must be json or pretty"),
            })?,
            max_in_flight: parse_with(parsed("PDM_MAX_IN_FLIGHT", "256"), positive_number)?,
            request_timeout: parse_with(parsed("PDM_REQUEST_TIMEOUT", "60s"), positive_duration)?,
            api_tokens: {
                let tokens = parse_with(parsed("PDM_API_TOKENS", ""), ApiTokens::parse)?;
                let tokens = parse_with(parsed("PDM_API_SCOPES", ""), |spec| {
                    tokens.clone().with_scopes(spec)
                })?;
                let quota = match var("PDM_DEFAULT_QUOTA") {
                    Some(value) => Some(parse_with(
                        (value, "PDM_DEFAULT_QUOTA"),
                        positive_number::<u32>,
                    )?),
                    None => None,
                };
                tokens.with_default_quota(quota)
            },
            body_timeout: parse_with(parsed("PDM_BODY_TIMEOUT", "10s"), positive_duration)?,
            dns_wait: parse_with(parsed("PDM_DNS_WAIT", "10s"), positive_duration)?,
            allow_private_lb: parse_with(parsed("PDM_ALLOW_PRIVATE_LB", "false"), boolean)?,
            force_release_grace: parse_with(
                parsed("PDM_FORCE_RELEASE_GRACE", "30days"),
                positive_duration,
            )?,
            registrar_urls: RegistrarUrls {
                cloudflare: parsed("CLOUDFLARE_API_URL", "https://api.cloudflare.com/client/v4").0,
                dynadot: parsed("DYNADOT_API_URL", DEFAULT_DYNADOT_API_URL).0,
                godaddy: parsed("GODADDY_API_URL", "https://api.godaddy.com").0,
                namecheap: parsed(
                    "NAMECHEAP_API_URL",
                    "https://api.namecheap.com/xml.response",
                )
                .0,
                namecheap_client_ip: var("NAMECHEAP_CLIENT_IP").map(|ip| ip.trim().to_owned()),
                ovh: parsed("OVH_API_URL", "https://eu.api.ovh.com/1.0").0,
            },
            registrar_timeout: parse_with(
                parsed("PDM_REGISTRAR_TIMEOUT", "20s"),
                positive_duration,
            )?,
            foreign_records: parse_with(parsed("PDM_FOREIGN_RECORDS", "refuse"), |v| {
                match v.trim() {
                    "refuse" => Ok(ForeignRecords::Refuse),
                    "adopt" => Ok(ForeignRecords::Adopt),
                    _ => Err("must be refuse or adopt"),
                }
            })?,
        })
    }

    /// The PostgreSQL URL, when the store is PostgreSQL.
    pub fn postgres_url(&self) -> Option<&str> {
        match &self.database {
            Database::Postgres(url) => Some(url.expose_secret()),
            Database::Sqlite { .. } => None,
        }
    }
}

/// Where the allocations live.
#[derive(Debug, Clone)]
pub enum Database {
    /// `postgres://…` or `postgresql://…`: production, shared by any number of replicas.
    Postgres(SecretString),
    /// `sqlite://path`, or the embedded default (`defaulted`) when `PDM_DATABASE_URL` is unset.
    Sqlite {
        path: std::path::PathBuf,
        defaulted: bool,
    },
}

impl Database {
    fn from_url(url: &str) -> Result<Self, &'static str> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(SecretString::from(url)));
        }
        match url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Some(path) if !path.is_empty() => Ok(Self::Sqlite {
                path: path.into(),
                defaulted: false,
            }),
            // Never echo the value: a mistyped URL may still carry a password.
            _ => Err("must be a postgres:// or sqlite:// URL"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsProviderKind {
    Dynadot,
    PowerDns,
    LogOnly,
}

impl fmt::Display for DnsProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dynadot => "dynadot",
            Self::PowerDns => "powerdns",
            Self::LogOnly => "log",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

fn parse_with<T, E: fmt::Display>(
    (value, variable): (String, &'static str),
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, ConfigError> {
    parse(&value).map_err(|e| ConfigError {
        variable,
        problem: e.to_string(),
    })
}

/// A whole number above zero.
fn positive_number<T: std::str::FromStr + PartialOrd + Default>(
    value: &str,
) -> Result<T, &'static str> {
    value
        .trim()
        .parse::<T>()
        .ok()
        .filter(|n| *n > T::default())
        .ok_or("must be a whole number above 0")
}

fn boolean(value: &str) -> Result<bool, &'static str> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err("must be true or false"),
    }
}

/// Go-style durations (`90s`, `10m`, `1h30m`) as humantime reads them; zero is refused.
/// The longest duration any setting takes: a year and a day. Longer is a typo (`10000years`),
/// and adding it to a date could overflow.
const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

fn positive_duration(value: &str) -> Result<Duration, String> {
    match humantime::parse_duration(value.trim()) {
        Ok(d) if d.is_zero() => Err("must be longer than zero".to_owned()),
        Ok(d) if d > MAX_DURATION => Err("must be at most 366 days".to_owned()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e} (expected a duration such as 90s, 10m or 1h)")),
    }
}

/// `*` and plain labels, comma/space separated, de-duplicated in order.
/// Name servers as absolute names (`ns1.openova.io.`), in the order given, each once; none
/// for an empty list.
fn nameservers(list: &str) -> Result<Vec<String>, String> {
    let given: Vec<String> = list
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    if given.is_empty() {
        return Ok(Vec::new());
    }
    let names = crate::registrar::normalized_nameservers(&given)?;
    Ok(names.into_iter().map(|name| format!("{name}.")).collect())
}

fn sovereign_hosts(list: &str) -> Result<Vec<String>, String> {
    let mut hosts: Vec<String> = Vec::new();
    for raw in list.split(|c: char| c == ',' || c.is_whitespace()) {
        if raw.is_empty() {
            continue;
        }
        let host = if raw == "*" {
            raw.to_owned()
        } else {
            Subdomain::parse(raw)
                .map_err(|e| format!("{raw:?}: {e}"))?
                .to_string()
        };
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    if hosts.is_empty() {
        return Err("at least one host is needed".to_owned());
    }
    Ok(hosts)
}

/// Bearer tokens accepted on guarded routes, each with a name for the logs and the audit
/// trail. Only their SHA-256 digests are kept: comparing fixed-length digests takes the same
/// time whatever the presented token's length, and no token stays in memory.
#[derive(Clone, Default)]
pub struct ApiTokens {
    entries: Vec<(String, [u8; 32], Scopes)>,
    /// `PDM_DEFAULT_QUOTA`: the live allocations each credential may hold.
    default_quota: Option<u32>,
}

impl ApiTokens {
    /// `name=token` entries, comma-separated. The name is a word (`[A-Za-z0-9_.-]`, at most
    /// 64); the token is everything after the first `=` and may itself hold `=` (base64
    /// padding). An entry without `=` is a token named `token<N>`. An entry that could be
    /// read two ways (an empty token, or one starting with `=`, as a bare padded base64 token
    /// would split) stops start-up; the error names the entry by its position, never its text.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut tokens = Vec::new();
        for (index, entry) in list.split(',').map(str::trim).enumerate() {
            if entry.is_empty() {
                continue;
            }
            let unreadable = || {
                Err(format!(
                    "entry {} is not name=token (a name of letters, digits, '_', '.' or '-', \
                     then '=', then a token that does not start with '=')",
                    index + 1
                ))
            };
            let Some((name, token)) = entry.split_once('=') else {
                tokens.push((
                    format!("token{}", index + 1),
                    digest(entry),
                    Scopes::DEFAULT,
                ));
                continue;
            };
            let name_is_word = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !name_is_word || token.is_empty() || token.starts_with('=') {
                return unreadable();
            }
            tokens.push((name.to_owned(), digest(token), Scopes::DEFAULT));
        }
        Ok(Self {
            entries: tokens,
            default_quota: None,
        })
    }

    /// The same credentials, each capped at `quota` live allocations (`PDM_DEFAULT_QUOTA`).
    pub fn with_default_quota(self, quota: Option<u32>) -> Self {
        Self {
            default_quota: quota,
            ..self
        }
    }

    /// The same credentials with the scopes `spec` gives them (`PDM_API_SCOPES`:
    /// `catalyst=allocate+registrar,ops=operate`); an entry it does not name keeps
    /// [`Scopes::DEFAULT`]. Naming an entry that does not exist stops start-up.
    pub fn with_scopes(mut self, spec: &str) -> Result<Self, String> {
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, list) = entry
                .split_once('=')
                .ok_or_else(|| format!("{entry:?} is not name=scope+scope"))?;
            let scopes = Scopes::parse(list).map_err(|e| format!("{}: {e}", name.trim()))?;
            let credential = self
                .entries
                .iter_mut()
                .find(|(known, ..)| known == name.trim())
                .ok_or_else(|| format!("{:?} is no entry of PDM_API_TOKENS", name.trim()))?;
            credential.2 = scopes;
        }
        Ok(self)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The credentials' names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(name, ..)| name.as_str())
    }

    /// `PDM_DEFAULT_QUOTA`, which credentials without a quota of their own take.
    pub fn default_quota(&self) -> Option<u32> {
        self.default_quota
    }

    /// The credential whose token is `presented`, compared in constant time.
    pub fn caller_of(&self, presented: &str) -> Option<Caller> {
        use subtle::ConstantTimeEq;
        let presented = digest(presented);
        // Compare against every token so the time taken does not say which one matched.
        let found = self
            .entries
            .iter()
            .fold(None, |found, (name, token, scopes)| {
                let equal: bool = token.ct_eq(&presented).into();
                found.or(equal.then_some((name, *scopes)))
            });
        found.map(|(name, scopes)| Caller {
            name: name.clone(),
            scopes,
            quota: self.default_quota,
        })
    }
}

pub(crate) fn digest(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

impl fmt::Debug for ApiTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.entries
                    .iter()
                    .map(|(name, _, scopes)| format!("{name}=[REDACTED] ({scopes:?})")),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    fn domains(config: &Config) -> Vec<&str> {
        config.managed_domains.iter().map(|d| d.as_str()).collect()
    }

    #[test]
    fn defaults_follow_the_contract() {
        let config = config(&[]).unwrap();
        assert_eq!(config.port, 8080);
        assert!(matches!(
            &config.database,
            Database::Sqlite { path, defaulted: true } if path.as_os_str() == DEFAULT_SQLITE_PATH
        ));
        assert!(config.dynadot_api_key.is_none());
        assert_eq!(config.dynadot_api_url, DEFAULT_DYNADOT_API_URL);
        assert_eq!(config.dynadot_timeout, Duration::from_secs(30));
        assert_eq!(
            config.sovereign_hosts,
            ["*", "console", "gitea", "harbor", "admin", "api"]
        );
        assert_eq!(domains(&config), ["omani.works", "openova.io"]);
        assert_eq!(config.reservation_ttl, Duration::from_secs(600));
        assert_eq!(config.sweeper_interval, Duration::from_secs(30));
        assert_eq!(config.log_level, "info");
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.max_in_flight, 256);
        assert_eq!(config.request_timeout, Duration::from_secs(60));
        assert!(config.api_tokens.is_empty());
    }

    #[test]
    fn go_style_durations_are_read() {
        for (raw, seconds) in [("90s", 90), ("10m", 600), ("1h", 3600), ("1h30m", 5400)] {
            let config = config(&[("PDM_RESERVATION_TTL", raw), ("PDM_SWEEPER_INTERVAL", raw)])
                .unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(
                config.reservation_ttl,
                Duration::from_secs(seconds),
                "{raw}"
            );
            assert_eq!(
                config.sweeper_interval,
                Duration::from_secs(seconds),
                "{raw}"
            );
        }
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (variable, value) in [
            ("PDM_RESERVATION_TTL", "ten minutes"),
            ("PDM_RESERVATION_TTL", "0s"),
            ("PDM_SWEEPER_INTERVAL", "-5s"),
            ("PORT", "http"),
            ("PORT", "70000"),
            ("DYNADOT_MANAGED_DOMAINS", "not a domain"),
            ("PDM_DB_MAX_CONNECTIONS", "0"),
            ("PDM_SOVEREIGN_HOSTS", "*,-bad"),
            ("PDM_SOVEREIGN_HOSTS", " , "),
            ("DYNADOT_TIMEOUT", "soon"),
            ("PDM_LOG_FORMAT", "xml"),
            ("PDM_MAX_IN_FLIGHT", "0"),
            ("PDM_REQUEST_TIMEOUT", "0s"),
            ("PDM_FORCE_RELEASE_GRACE", "10000years"),
            ("PDM_RESERVATION_TTL", "367days"),
            ("PDM_CONSOLE_HOSTS", "-bad"),
        ] {
            let error = config(&[(variable, value)]).expect_err(value);
            assert_eq!(error.variable, variable, "{value}");
        }
    }

    #[test]
    fn sovereign_hosts_can_be_narrowed_to_the_wildcard() {
        let config = config(&[("PDM_SOVEREIGN_HOSTS", "* , *,Console")]).unwrap();
        assert_eq!(config.sovereign_hosts, ["*", "console"]);
    }

    #[test]
    fn legacy_single_domain_is_the_fallback() {
        let legacy = config(&[("DYNADOT_DOMAIN", "Omani.Works")]).unwrap();
        assert_eq!(domains(&legacy), ["omani.works"]);
        let both = config(&[
            ("DYNADOT_DOMAIN", "omani.works"),
            (
                "DYNADOT_MANAGED_DOMAINS",
                "openova.io example.org,openova.io",
            ),
        ])
        .unwrap();
        assert_eq!(domains(&both), ["example.org", "openova.io"]);
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let config = config(&[
            ("PORT", ""),
            ("PDM_DATABASE_URL", " "),
            ("DYNADOT_API_KEY", ""),
        ])
        .unwrap();
        assert_eq!(config.port, 8080);
        assert!(config.postgres_url().is_none());
        assert!(config.dynadot_api_key.is_none());
    }

    #[test]
    fn api_tokens_are_named_matched_and_never_printed() {
        let config = config(&[("PDM_API_TOKENS", "catalyst=s3cr3t-a, s3cr3t-b")]).unwrap();
        let tokens = &config.api_tokens;
        assert_eq!(
            tokens.caller_of("s3cr3t-a").map(|c| c.name),
            Some("catalyst".to_owned())
        );
        assert_eq!(
            tokens.caller_of("s3cr3t-b").map(|c| c.name),
            Some("token2".to_owned())
        );
        assert_eq!(tokens.caller_of("s3cr3t").map(|c| c.name), None);
        assert_eq!(tokens.caller_of("").map(|c| c.name), None);
        let printed = format!("{config:?}");
        assert!(!printed.contains("s3cr3t"), "{printed}");
        assert!(printed.contains("catalyst=[REDACTED]"), "{printed}");
    }

    #[test]
    fn secrets_never_reach_debug_output_or_errors() {
        let config = config(&[
            ("DYNADOT_API_KEY", "dynadot-key-123"),
            ("PDNS_API_KEY", "pdns-key-789"),
            ("PDM_DATABASE_URL", "postgres://pdm:db-pass-456@db/pdm"),
        ])
        .unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("dynadot-key-123"), "{printed}");
        assert!(!printed.contains("pdns-key-789"), "{printed}");
        assert!(!printed.contains("db-pass-456"), "{printed}");

        let error = config_error_for_token_entry("=leaked-token");
        assert!(!error.contains("leaked-token"), "{error}");
    }

    #[test]
    fn a_token_entry_that_reads_two_ways_stops_start_up_and_padding_is_kept() {
        for ambiguous in [
            "c2VjcmV0LXRva2Vu==",
            "c2VjcmV0LXRva2Vu=",
            "bad name=token",
            "=x",
        ] {
            let error = config_error_for_token_entry(ambiguous);
            assert!(error.contains("PDM_API_TOKENS"), "{error}");
            assert!(!error.contains("c2VjcmV0"), "never echoed: {error}");
        }
        let config = config(&[("PDM_API_TOKENS", "catalyst=c2VjcmV0LXRva2Vu==")]).unwrap();
        assert_eq!(
            config
                .api_tokens
                .caller_of("c2VjcmV0LXRva2Vu==")
                .map(|c| c.name),
            Some("catalyst".to_owned())
        );
        assert_eq!(config.api_tokens.caller_of("=").map(|c| c.name), None);
        assert_eq!(
            config
                .api_tokens
                .caller_of("c2VjcmV0LXRva2Vu")
                .map(|c| c.name),
            None
        );
    }

    #[test]
    fn the_database_url_picks_the_store() {
        let database = |url: &str| config(&[("PDM_DATABASE_URL", url)]).map(|c| c.database);

        let pg = database("postgresql://pdm:pw@db:5432/pdm").unwrap();
        assert!(matches!(&pg, Database::Postgres(url) if url.expose_secret().ends_with("/pdm")));
        let file = database("sqlite:///var/lib/pdm/pdm.sqlite").unwrap();
        assert!(matches!(
            &file,
            Database::Sqlite { path, defaulted: false } if path.as_os_str() == "/var/lib/pdm/pdm.sqlite"
        ));
        let relative = config(&[("PDM_SQLITE_PATH", "data/pdm.db")])
            .unwrap()
            .database;
        assert!(
            matches!(&relative, Database::Sqlite { path, defaulted: true } if path.as_os_str() == "data/pdm.db")
        );
        let error = database("mysql://root:hunter2@db/pdm").unwrap_err();
        assert_eq!(error.variable, "PDM_DATABASE_URL");
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn the_dns_provider_is_chosen_explicitly_or_by_which_key_is_set() {
        let provider = |vars: &[(&str, &str)]| config(vars).map(|c| c.dns_provider);
        let pdns = [
            ("PDNS_API_URL", "http://127.0.0.1:8081"),
            ("PDNS_API_KEY", "k"),
            ("PDNS_NAMESERVERS", "ns1.openova.io"),
        ];

        assert_eq!(provider(&[]).unwrap(), DnsProviderKind::LogOnly);
        assert_eq!(
            provider(&[("DYNADOT_API_KEY", "k")]).unwrap(),
            DnsProviderKind::Dynadot
        );
        assert_eq!(provider(&pdns).unwrap(), DnsProviderKind::PowerDns);
        let explicit_log = [("PDM_DNS_PROVIDER", "log"), ("DYNADOT_API_KEY", "k")];
        assert_eq!(provider(&explicit_log).unwrap(), DnsProviderKind::LogOnly);
        let config = config(&[&pdns[..], &[("PDM_DNS_PROVIDER", "powerdns")]].concat()).unwrap();
        assert_eq!(config.pdns_server_id, "localhost");
        assert_eq!(config.pdns_timeout, Duration::from_secs(10));
    }

    #[test]
    fn powerdns_makes_signed_child_zones_unless_told_records_and_needs_the_fleets_name_servers() {
        let pdns = [("PDNS_API_URL", "http://x"), ("PDNS_API_KEY", "k")];
        let with = |extra: &[(&str, &str)]| config(&[&pdns[..], extra].concat());

        assert_eq!(with(&[]).unwrap_err().variable, "PDNS_NAMESERVERS");
        assert_eq!(
            with(&[("PDNS_DELEGATION", "records")])
                .unwrap()
                .pdns_delegation,
            Delegation::Records
        );
        let child = with(&[(
            "PDNS_NAMESERVERS",
            "NS1.openova.io., ns2.openova.io ns1.openova.io",
        )])
        .unwrap()
        .pdns_delegation;
        assert_eq!(
            child,
            Delegation::ChildZone(ChildZones {
                nameservers: vec!["ns1.openova.io.".to_owned(), "ns2.openova.io.".to_owned()],
                dnssec: true,
            })
        );
        let unsigned = with(&[("PDNS_NAMESERVERS", "ns1.x.io"), ("PDNS_DNSSEC", "false")]);
        assert!(matches!(
            unsigned.unwrap().pdns_delegation,
            Delegation::ChildZone(ChildZones { dnssec: false, .. })
        ));
        let bad = [("PDNS_DELEGATION", "zones")];
        assert_eq!(with(&bad).unwrap_err().variable, "PDNS_DELEGATION");
        let bad = [("PDNS_NAMESERVERS", "not a host!")];
        assert_eq!(with(&bad).unwrap_err().variable, "PDNS_NAMESERVERS");
        // Another provider needs none of it.
        assert!(config(&[]).is_ok());
    }

    #[test]
    fn a_chosen_provider_without_its_settings_is_refused_by_name() {
        let problem = |vars: &[(&str, &str)]| config(vars).unwrap_err().variable;

        assert_eq!(
            problem(&[("PDM_DNS_PROVIDER", "dynadot")]),
            "DYNADOT_API_KEY"
        );
        assert_eq!(problem(&[("PDM_DNS_PROVIDER", "powerdns")]), "PDNS_API_URL");
        let url_only = [
            ("PDM_DNS_PROVIDER", "powerdns"),
            ("PDNS_API_URL", "http://x"),
        ];
        assert_eq!(problem(&url_only), "PDNS_API_KEY");
        assert_eq!(
            problem(&[("PDM_DNS_PROVIDER", "route53")]),
            "PDM_DNS_PROVIDER"
        );
    }

    fn config_error_for_token_entry(entry: &str) -> String {
        config(&[("PDM_API_TOKENS", entry)])
            .unwrap_err()
            .to_string()
    }
}
