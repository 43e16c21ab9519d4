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
use pdm_core::http::Endpoint;
use pdm_core::{Config, Ctx};

/// Whether this process runs under the Lambda runtime (or `cargo lambda watch`, which sets
/// the same variable).
pub fn on_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// Reads the configuration (with the secrets of `PDM_SECRET_ID`, when set), starts logging
/// and builds the shared state, saying loudly what was defaulted. `Err` carries the exit code
/// to stop with.
pub async fn start() -> Result<(Config, Arc<Ctx>), ExitCode> {
    let refuse = |error: &dyn std::fmt::Display| {
        pdm_core::telemetry::init("info", pdm_core::config::LogFormat::Json);
        tracing::error!(error.message = %error, "invalid configuration");
        ExitCode::from(2)
    };
    let secrets = match std::env::var(secrets::SECRET_ID) {
        Ok(id) if !id.trim().is_empty() => {
            secrets::load(id.trim()).await.map_err(|e| refuse(&e))?
        }
        _ => HashMap::new(),
    };
    let config = Config::from_lookup(|name| {
        secrets
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
    })
    .map_err(|e| refuse(&e))?;
    pdm_core::telemetry::init(&config.log_level, config.log_format);
    if config.api_tokens.is_empty() {
        tracing::warn!("PDM_API_TOKENS is not set: reserve, commit, release and list are OPEN");
    }
    match Ctx::from_config(&config) {
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
    let (config, ctx) = match start().await {
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
