//! pdm-server: the combined container. Every endpoint on `$PORT`, the sweeper every
//! `PDM_SWEEPER_INTERVAL`, migrations at start-up, graceful stop on SIGTERM/SIGINT.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pdm_core::http::Endpoint;
use pdm_core::{Config, Ctx};
use pdm_runtime::Shutdown;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            pdm_core::telemetry::init("info");
            tracing::error!(error.message = %error, "invalid configuration");
            return ExitCode::from(2);
        }
    };
    pdm_core::telemetry::init(&config.log_level);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error.cause_chain = ?error, error.message = %error, "pdm-server stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    if config.api_tokens.is_empty() {
        tracing::warn!("PDM_API_TOKENS is not set: reserve, commit, release and list are OPEN");
    }
    let ctx = Ctx::from_config(&config)?;
    pdm_core::MIGRATOR
        .run(ctx.pdm.store().pool())
        .await
        .context("cannot apply database migrations")?;

    let shutdown = Shutdown::on_signals();
    let sweeper = tokio::spawn(sweep_until(
        ctx.clone(),
        config.sweeper_interval,
        shutdown.clone(),
    ));
    let listener = pdm_runtime::bind_port(config.port)
        .await
        .with_context(|| format!("cannot listen on port {}", config.port))?;
    pdm_runtime::serve(listener, Endpoint::router(ctx), shutdown)
        .await
        .context("the server failed")?;
    sweeper.await.context("the sweeper task panicked")?;
    tracing::info!("stopped");
    Ok(())
}

/// Every `interval` until shutdown: deletes lapsed reservations and retries owed DNS changes.
async fn sweep_until(ctx: Arc<Ctx>, interval: Duration, shutdown: Shutdown) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = shutdown.wait() => return,
        }
        if let Err(error) = ctx.pdm.maintain().await {
            tracing::warn!(error.message = %error, "maintenance run failed; retrying next tick");
        }
    }
}
