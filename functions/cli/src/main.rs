//! pdm: the operator's command line. It works on the database and the DNS provider directly,
//! with the same rules as the API, and prints a table (or JSON with `--json`).
//!
//! Exit codes: 0 done; 1 refused, failed, or a problem found (unavailable name, unexplained
//! drift, changes still owed); 2 done but DNS still owes the change.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use pdm_core::http::wire::{AllocationBody, CheckResponse, EventBody};
use pdm_core::service::presented_token;
use pdm_core::service::{DnsSync, MaintenanceReport};
use pdm_core::store::{Actor, Allocation};
use pdm_core::{Config, Ctx, Error};
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "pdm",
    version,
    about = "Operate PDM: the subdomains of the OpenOva pool domains"
)]
struct Cli {
    /// PostgreSQL URL (default: the local database, as for the server).
    #[arg(long, env = "PDM_DATABASE_URL", hide_env_values = true, global = true)]
    database_url: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the database migrations.
    Migrate,
    /// Whether a name could be reserved now (exit 1 when it could not).
    Check { pool: String, sub: String },
    /// Reserve a name; prints its reservation token.
    Reserve {
        pool: String,
        sub: String,
        #[arg(long, default_value = "")]
        created_by: String,
    },
    /// Commit a reservation and write its DNS records.
    Commit {
        pool: String,
        sub: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        ip: String,
        /// An isolated console gateway's address: PDM_CONSOLE_HOSTS point here.
        #[arg(long)]
        console_ip: Option<String>,
        #[arg(long)]
        fqdn: Option<String>,
    },
    /// Release a name and remove its DNS records.
    Release {
        pool: String,
        sub: String,
        #[arg(long)]
        token: Option<String>,
    },
    /// An operator's last resort: release a sovereign whose cluster never decommissioned,
    /// once it is older than PDM_FORCE_RELEASE_GRACE and its FQDN no longer answers.
    ForceRelease {
        /// The sovereign's FQDN, e.g. acme.omani.works.
        fqdn: String,
        /// Why, for the audit trail.
        #[arg(long)]
        reason: String,
        /// Confirms the grace period has passed (the API's graceConfirmed).
        #[arg(long)]
        grace_confirmed: bool,
    },
    /// A customer's own domain at their registrar (bring-your-own). The customer's token is
    /// read from PDM_REGISTRAR_TOKEN, or from stdin: never an argument, which the process
    /// list and shell history would keep.
    Registrar {
        #[command(subcommand)]
        action: RegistrarAction,
    },
    /// Stop or resume reservations under a pool (during abuse): commits of existing
    /// reservations, releases and DNS go on.
    Pool {
        #[command(subcommand)]
        action: PoolAction,
    },
    /// Credentials held in the database: made, listed and revoked without a redeploy.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// A pool's live allocations.
    List {
        pool: String,
        #[arg(long)]
        limit: Option<i64>,
        #[arg(long)]
        after: Option<String>,
    },
    /// One name's audit trail.
    History { pool: String, sub: String },
    /// Delete lapsed reservations now.
    Sweep {
        /// One run, then exit (the only mode; accepted for CronJob manifests).
        #[arg(long)]
        once: bool,
    },
    /// Apply every owed DNS change that is due (exit 1 if some are still owed).
    Reconcile {
        /// Only list the owed changes.
        #[arg(long)]
        dry_run: bool,
        /// First mark every committed allocation as owed, so that all are published as the
        /// provider is now configured (after switching PDNS_DELEGATION).
        #[arg(long, conflicts_with = "dry_run")]
        republish: bool,
    },
    /// Compare live zones with the table (exit 1 on differences the reconciler won't fix).
    Drift {
        /// One pool; every managed pool when absent.
        pool: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Make a credential; its secret goes to stdout, once.
    Create {
        name: String,
        /// read, allocate, registrar or operate; repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// The most live allocations it may hold.
        #[arg(long)]
        quota: Option<u32>,
        /// When it stops working (RFC 3339).
        #[arg(long, value_parser = parse_time)]
        expires_at: Option<time::OffsetDateTime>,
    },
    /// The stored credentials, never a secret.
    List,
    /// Revoke a credential: refused everywhere within 5 s.
    Revoke { name: String },
}

fn parse_time(raw: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("not an RFC 3339 time: {e}"))
}

#[derive(Subcommand)]
enum PoolAction {
    /// Refuse every reservation under the pool until it is unfrozen.
    Freeze {
        pool: String,
        /// Why, for the audit trail.
        #[arg(long)]
        reason: String,
    },
    /// Take reservations under the pool again.
    Unfreeze { pool: String },
}

#[derive(Subcommand)]
enum RegistrarAction {
    /// Confirm the token opens the account holding the domain (writes nothing).
    Validate { registrar: String, domain: String },
    /// Point the domain at these name servers, then read them back.
    SetNs {
        registrar: String,
        domain: String,
        #[arg(required = true)]
        nameservers: Vec<String>,
    },
    /// Write the records of a JSON file (`[{"type","name","value","ttl","priority"}]`).
    SetDns {
        registrar: String,
        domain: String,
        #[arg(long)]
        records: std::path::PathBuf,
    },
}

/// The customer's token: PDM_REGISTRAR_TOKEN, else the first line of stdin.
fn customer_token() -> Result<String, Error> {
    if let Ok(token) = std::env::var("PDM_REGISTRAR_TOKEN") {
        return Ok(token);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Error::InvalidFormat(format!("cannot read the token from stdin: {e}")))?;
    Ok(line.trim().to_owned())
}

async fn token(out: Output, ctx: &Ctx, action: &TokenAction) -> Result<ExitCode, Error> {
    let store = ctx.pdm.store();
    match action {
        TokenAction::Create {
            name,
            scopes,
            quota,
            expires_at,
        } => {
            let created = ctx
                .credentials
                .create(store, name, scopes, (*quota, *expires_at))
                .await?;
            let body = serde_json::json!({
                "name": created.credential.name,
                "token": created.secret,
                "scopes": created.credential.scopes,
            });
            out.print(&body, || vec![vec![created.secret.clone()]]);
        }
        TokenAction::List => {
            let stored = store.credentials().await?;
            let rows: Vec<serde_json::Value> = stored
                .iter()
                .map(|c| serde_json::json!({"name": c.name, "scopes": c.scopes, "quota": c.quota}))
                .collect();
            out.print(&rows, || {
                stored
                    .iter()
                    .map(|c| {
                        let quota = c.quota.map(|q| q.to_string()).unwrap_or_default();
                        vec![c.name.clone(), c.scopes.clone(), quota]
                    })
                    .collect()
            });
        }
        TokenAction::Revoke { name } => {
            ctx.credentials.revoke(store, name).await?;
            out.print(&serde_json::json!({ "revoked": name }), || {
                vec![vec![format!("revoked {name}")]]
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn pool_freeze(
    out: Output,
    pdm: &pdm_core::Pdm,
    action: &PoolAction,
    actor: &Actor,
) -> Result<ExitCode, Error> {
    let body = match action {
        PoolAction::Freeze { pool, reason } => {
            let pool = pdm.domains().resolve(pool)?;
            let frozen = pdm.freeze(&pool, reason, actor).await?;
            serde_json::json!({"poolDomain": frozen.pool_domain, "frozen": true, "reason": frozen.reason})
        }
        PoolAction::Unfreeze { pool } => {
            let pool = pdm.domains().resolve(pool)?;
            pdm.unfreeze(&pool, actor).await?;
            serde_json::json!({"poolDomain": pool.as_str(), "frozen": false})
        }
    };
    out.print(&body, || {
        let state = if body["frozen"] == true {
            "frozen"
        } else {
            "open"
        };
        vec![vec![
            body["poolDomain"].as_str().unwrap_or_default().to_owned(),
            state.to_owned(),
        ]]
    });
    Ok(ExitCode::SUCCESS)
}

async fn registrar(out: Output, ctx: &Ctx, action: &RegistrarAction) -> Result<ExitCode, Error> {
    let (name, domain) = match action {
        RegistrarAction::Validate { registrar, domain }
        | RegistrarAction::SetNs {
            registrar, domain, ..
        }
        | RegistrarAction::SetDns {
            registrar, domain, ..
        } => (registrar, domain),
    };
    let request = ctx.registrars.request(name, domain, &customer_token()?)?;
    let registrar = request.registrar.name();
    let domain = request.domain.as_str();
    let answer = match action {
        RegistrarAction::Validate { .. } => {
            request.validate().await?;
            serde_json::json!({"valid": true, "registrar": registrar, "domain": domain})
        }
        RegistrarAction::SetNs { nameservers, .. } => {
            let held = request.set_ns(nameservers).await?;
            serde_json::json!({"success": true, "registrar": registrar, "domain": domain, "nameservers": held})
        }
        RegistrarAction::SetDns { records, .. } => {
            let text = std::fs::read_to_string(records).map_err(|e| {
                Error::InvalidFormat(format!("cannot read {}: {e}", records.display()))
            })?;
            let records: Vec<pdm_core::registrar::Record> = serde_json::from_str(&text)
                .map_err(|e| Error::InvalidFormat(format!("records: {e}")))?;
            request.set_dns(&records).await?;
            serde_json::json!({"success": true, "registrar": registrar, "domain": domain, "records": records.len()})
        }
    };
    out.print(&answer, || vec![vec![answer.to_string()]]);
    Ok(ExitCode::SUCCESS)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let database_url = cli.database_url.clone();
    let config = match Config::from_lookup(|name| match name {
        "PDM_DATABASE_URL" => database_url.clone(),
        _ => std::env::var(name).ok(),
    }) {
        Ok(config) => config,
        Err(error) => return fail(cli.json, &format!("invalid configuration: {error}")),
    };
    pdm_core::telemetry::init(&config.log_level, config.log_format);
    let ctx = match Ctx::from_config(&config) {
        Ok(ctx) => ctx,
        Err(error) => return fail(cli.json, &format!("{error:#}")),
    };
    match run(&cli, &ctx).await {
        Ok(code) => code,
        Err(error) => fail(cli.json, &format!("{}: {error}", error.code())),
    }
}

/// What a release did: the name freed, and whether DNS still owes its removal.
fn print_freed(out: Output, freed: &str, sync: DnsSync) -> ExitCode {
    let dns = if sync == DnsSync::Written {
        "removed"
    } else {
        "pending"
    };
    out.print(&serde_json::json!({"freed": freed, "dns": dns}), || {
        vec![vec![format!("freed {freed}"), format!("dns {dns}")]]
    });
    dns_exit(sync)
}

async fn run(cli: &Cli, ctx: &Arc<Ctx>) -> Result<ExitCode, Error> {
    let pdm = &ctx.pdm;
    let out = Output { json: cli.json };
    let actor = Actor::job(&format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_default()
    ));
    match &cli.command {
        Command::Migrate => {
            pdm.store()
                .migrate()
                .await
                .map_err(|e| Error::Unexpected(e.into()))?;
            let version = pdm.store().migrator().iter().map(|m| m.version).max();
            out.print(
                &serde_json::json!({"migrated": true, "version": version}),
                || {
                    vec![vec![format!(
                        "migrated to version {}",
                        version.unwrap_or_default()
                    )]]
                },
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { pool, sub } => {
            let availability = pdm.check(pool, sub).await?;
            let (reason, detail) = availability
                .refusal
                .as_ref()
                .map(|(r, d)| (*r, d.as_str()))
                .unzip();
            let answer = CheckResponse {
                available: availability.refusal.is_none(),
                reason,
                detail,
                fqdn: &availability.fqdn,
            };
            out.print(&answer, || {
                let verdict =
                    detail.map_or("available".to_owned(), |d| format!("unavailable: {d}"));
                vec![vec![availability.fqdn.clone(), verdict]]
            });
            Ok(exit_if(answer.available))
        }
        Command::Reserve {
            pool,
            sub,
            created_by,
        } => {
            let (pool, sub, _) = pdm.parse_reservable(pool, sub)?;
            let created_by = pdm_core::domain::CreatedBy::parse(created_by)?;
            let reserved = pdm.reserve(&pool, &sub, &created_by, &actor).await?;
            print_allocations(out, &[reserved], true);
            Ok(ExitCode::SUCCESS)
        }
        Command::Commit {
            pool,
            sub,
            token,
            ip,
            console_ip,
            fqdn,
        } => {
            let pool = pdm.domains().resolve(pool)?;
            let sub = pdm_core::domain::Subdomain::parse(sub)?;
            let addresses = (Some(ip.as_str()), console_ip.as_deref());
            let commit = pdm.parse_commit(&pool.fqdn(&sub)?, token, fqdn.as_deref(), addresses)?;
            let (allocation, sync) = pdm.commit(&pool, &sub, &commit, &actor).await?;
            print_allocations(out, &[allocation], false);
            Ok(dns_exit(sync))
        }
        Command::Release { pool, sub, token } => {
            let pool = pdm.domains().resolve(pool)?;
            let sub = pdm_core::domain::Subdomain::parse(sub)?;
            let token = token.as_deref().map(presented_token);
            let (freed, sync) = pdm.release(&pool, &sub, token, &actor).await?;
            Ok(print_freed(out, &freed, sync))
        }
        Command::Registrar { action } => registrar(out, ctx, action).await,
        Command::Pool { action } => pool_freeze(out, pdm, action, &actor).await,
        Command::Token { action } => token(out, ctx, action).await,
        Command::ForceRelease {
            fqdn,
            reason,
            grace_confirmed,
        } => {
            let (freed, sync) = pdm
                .force_release(fqdn, reason, *grace_confirmed, &actor)
                .await?;
            Ok(print_freed(out, &freed, sync))
        }
        Command::List { pool, limit, after } => {
            let pool = pdm.domains().resolve(pool)?;
            let page = pdm.list(&pool, after.as_deref(), *limit).await?;
            print_allocations(out, &page.allocations, false);
            Ok(ExitCode::SUCCESS)
        }
        Command::History { pool, sub } => {
            let pool = pdm.domains().resolve(pool)?;
            let sub = pdm_core::domain::Subdomain::parse(sub)?;
            let events = pdm.history(&pool, &sub).await?;
            let bodies: Vec<EventBody> = events.iter().map(EventBody::from).collect();
            out.print(&bodies, || {
                let mut rows = vec![header(&["AT", "EVENT", "ACTOR", "REQUEST", "DETAIL"])];
                rows.extend(events.iter().map(|e| {
                    vec![
                        e.at.to_string(),
                        e.event.clone(),
                        e.actor.clone(),
                        e.request_id.clone().unwrap_or_default(),
                        e.detail.clone().unwrap_or_default(),
                    ]
                }));
                rows
            });
            Ok(ExitCode::SUCCESS)
        }
        Command::Sweep { once: _ } => {
            let report = pdm.sweep().await?;
            print_report(out, &report);
            Ok(ExitCode::SUCCESS)
        }
        Command::Reconcile { dry_run: true, .. } => {
            let owed = pdm.owed_changes().await?;
            print_allocations(out, &owed, false);
            Ok(exit_if(owed.is_empty()))
        }
        Command::Reconcile {
            dry_run: false,
            republish,
        } => {
            let report = if *republish {
                pdm.republish().await?.1
            } else {
                pdm.reconcile().await?
            };
            print_report(out, &report);
            Ok(exit_if(report.dns_pending == 0))
        }
        Command::Drift { pool } => {
            let pools = match pool {
                Some(raw) => vec![pdm.domains().resolve(raw)?],
                None => pdm.domains().iter().cloned().collect(),
            };
            let mut report = Vec::new();
            for pool in pools {
                report.push((pool.to_string(), pdm.drift(&pool).await?));
            }
            let unexplained: usize = report
                .iter()
                .flat_map(|(_, d)| d.as_ref())
                .map(|d| d.unexplained())
                .sum();
            out.print(&report, || {
                let mut rows = vec![header(&["POOL", "KIND", "NAME", "VALUE", "OWED"])];
                for (pool, drift) in &report {
                    let Some(drift) = drift else {
                        rows.push(vec![
                            pool.clone(),
                            "no zone to compare (log-only DNS)".to_owned(),
                        ]);
                        continue;
                    };
                    for (kind, records) in
                        [("missing", &drift.missing), ("orphaned", &drift.orphaned)]
                    {
                        rows.extend(records.iter().map(|r| {
                            vec![
                                pool.clone(),
                                kind.to_owned(),
                                r.name.clone(),
                                r.value.clone(),
                                r.owed.to_string(),
                            ]
                        }));
                    }
                    rows.extend(drift.foreign.iter().map(|r| {
                        vec![
                            pool.clone(),
                            "foreign".to_owned(),
                            r.name.clone(),
                            format!("{} {}", r.record_type, r.value),
                            "false".to_owned(),
                        ]
                    }));
                }
                rows
            });
            Ok(exit_if(unexplained == 0))
        }
    }
}

#[derive(Clone, Copy)]
struct Output {
    json: bool,
}

impl Output {
    /// Prints `value` as JSON, or the rows `table` builds as aligned columns.
    fn print<T: Serialize>(self, value: &T, table: impl FnOnce() -> Vec<Vec<String>>) {
        let mut stdout = std::io::stdout().lock();
        if self.json {
            let _ = serde_json::to_writer_pretty(&mut stdout, value);
            let _ = writeln!(stdout);
            return;
        }
        let rows = table();
        let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                rows.iter()
                    .filter_map(|r| r.get(c))
                    .map(|v| v.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in rows {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:width$}"))
                .collect();
            let _ = writeln!(stdout, "{}", cells.join("  ").trim_end());
        }
    }
}

fn header(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn print_allocations(out: Output, allocations: &[Allocation], with_token: bool) {
    let bodies: Vec<AllocationBody> = allocations
        .iter()
        .map(|a| {
            if with_token {
                AllocationBody::for_holder(a)
            } else {
                AllocationBody::public(a)
            }
        })
        .collect();
    out.print(&bodies, || {
        let mut rows = vec![header(&[
            "POOL",
            "SUBDOMAIN",
            "STATE",
            "LOAD BALANCER",
            "DNS",
            "EXPIRES",
            "TOKEN",
        ])];
        rows.extend(allocations.iter().map(|a| {
            let state = if a.releasing_since.is_some() {
                "releasing"
            } else if a.state == pdm_core::store::State::Active {
                "active"
            } else {
                "reserved"
            };
            vec![
                a.pool_domain.clone(),
                a.subdomain.clone(),
                state.to_owned(),
                a.load_balancer_ip.clone().unwrap_or_default(),
                format!("{:?}", a.dns_state).to_lowercase(),
                a.expires_at.map(|t| t.to_string()).unwrap_or_default(),
                if with_token {
                    a.reservation_token.to_string()
                } else {
                    String::new()
                },
            ]
        }));
        rows
    });
}

fn print_report(out: Output, report: &MaintenanceReport) {
    out.print(report, || {
        vec![
            header(&["SWEPT", "DNS SYNCED", "DNS PENDING", "ZONES MEASURED"]),
            vec![
                report.swept.to_string(),
                report.dns_synced.to_string(),
                report.dns_pending.to_string(),
                report.zones_measured.to_string(),
            ],
        ]
    });
}

fn exit_if(fine: bool) -> ExitCode {
    if fine {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn dns_exit(sync: DnsSync) -> ExitCode {
    match sync {
        DnsSync::Written => ExitCode::SUCCESS,
        // A refused commit is an error before this; a release is never refused.
        DnsSync::Pending | DnsSync::Refused(_) => ExitCode::from(2),
    }
}

fn fail(json: bool, message: &str) -> ExitCode {
    if json {
        let _ = writeln!(
            std::io::stdout(),
            "{}",
            serde_json::json!({"error": message})
        );
    } else {
        eprintln!("pdm: {message}");
    }
    ExitCode::FAILURE
}
