//! Runs PDM. One binary serves a tower service on AWS Lambda when the Lambda runtime is there,
//! and as a plain HTTP server on `$PORT` otherwise (Knative, a container, a laptop); scheduled
//! jobs run from a Lambda event, an HTTP POST (Knative PingSource) or `--once` (a CronJob).
//! The only crate that names hyper or lambda_http, so the core stays runtime-free.

mod http_server;
mod job;
mod lambda;
pub mod secrets;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;

pub use http_server::{BoxError, Shutdown, bind_port, serve};
pub use job::run_job;
use pdm_core::config::Database;
use pdm_core::http::Endpoint;
use pdm_core::{Config, Ctx};

/// Whether this process runs under the Lambda runtime (or `cargo lambda watch`, which sets
/// the same variable).
pub fn on_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// Starts a per-endpoint function (or job): the configuration with the secrets of
/// `PDM_SECRET_ID` when set, and PostgreSQL, which the functions share. See [`started`].
pub async fn start_function() -> Result<(Config, Arc<Ctx>), ExitCode> {
    let secrets = match std::env::var(secrets::SECRET_ID) {
        Ok(id) if !id.trim().is_empty() => {
            secrets::load(id.trim()).await.map_err(|e| refused(&e))?
        }
        _ => HashMap::new(),
    };
    let config = Config::from_lookup(|name| {
        secrets
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
    })
    .map_err(|e| refused(&e))?;
    let Database::Postgres(url) = config.database.clone() else {
        return Err(refused(
            &"PDM_DATABASE_URL is not set: the per-endpoint functions share one PostgreSQL \
              database and have no embedded store (pdm-server has one, for local runs)",
        ));
    };
    started(config, |config| Ctx::on_postgres(&url, config))
}

/// Starts the combined server: the configuration from the environment (a container's secrets
/// are in it), and PostgreSQL or the embedded store. See [`started`].
pub async fn start_combined() -> Result<(Config, Arc<Ctx>), ExitCode> {
    if std::env::var_os(secrets::SECRET_ID).is_some() {
        return Err(refused(&format_args!(
            "{} is read by the per-endpoint functions only: give pdm-server its secrets in \
             the environment",
            secrets::SECRET_ID
        )));
    }
    let config = Config::from_env().map_err(|e| refused(&e))?;
    started(config, Ctx::from_config)
}

/// Exit code 2 for a configuration the process cannot start with, logged before logging is
/// configured.
fn refused(error: &dyn std::fmt::Display) -> ExitCode {
    pdm_core::telemetry::init("info", pdm_core::config::LogFormat::Json);
    tracing::error!(error.message = %error, "invalid configuration");
    ExitCode::from(2)
}

/// Starts logging and builds the shared state with `build`, saying loudly what was defaulted.
/// Each binary names only the store it can use, so the other is not linked into it. `Err`
/// carries the exit code to stop with.
fn started(
    config: Config,
    build: impl FnOnce(&Config) -> anyhow::Result<Arc<Ctx>>,
) -> Result<(Config, Arc<Ctx>), ExitCode> {
    pdm_core::telemetry::init(&config.log_level, config.log_format);
    if config.api_tokens.is_empty() {
        let open: Vec<&str> = pdm_core::http::ROUTES
            .iter()
            .filter(|route| route.guard != pdm_core::http::Guard::Open)
            .map(|route| route.name)
            .collect();
        tracing::warn!(
            "PDM_API_TOKENS is not set: every route is OPEN to anyone who reaches it: {}",
            open.join(", ")
        );
    }
    match build(&config) {
        Ok(ctx) => Ok((config, ctx)),
        Err(error) => {
            tracing::error!(error.cause_chain = ?error, error.message = %error, "cannot start");
            Err(ExitCode::FAILURE)
        }
    }
}

/// The whole `main` of a per-endpoint function: its routes (the route table's rows naming
/// `function`) on Lambda or on `$PORT`.
pub async fn function(function: &str) -> ExitCode {
    let (config, ctx) = match start_function().await {
        Ok(started) => started,
        Err(code) => return code,
    };
    let endpoint = Endpoint::function(ctx, function);
    report(serve_endpoint(endpoint, config.port, Shutdown::on_signals()).await)
}

/// Serves `endpoint` on Lambda, or on `port` until `shutdown`.
pub async fn serve_endpoint(
    endpoint: Endpoint,
    port: u16,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    if on_lambda() {
        return lambda::serve(endpoint)
            .await
            .map_err(|e| anyhow::anyhow!("the Lambda runtime stopped: {e}"));
    }
    let listener = bind_port(port)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on port {port}: {e}"))?;
    serve(listener, endpoint, shutdown)
        .await
        .map_err(|e| anyhow::anyhow!("the server failed: {e}"))
}

/// Logs how the process ends and turns it into an exit code.
pub fn report(outcome: anyhow::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(error.cause_chain = ?error, error.message = %error, "stopped");
            ExitCode::FAILURE
        }
    }
}
