//! pdm-server: the combined container. Every endpoint on `$PORT`, maintenance (sweeper and
//! DNS reconciler) every `PDM_SWEEPER_INTERVAL`, migrations at start-up, graceful stop on
//! SIGTERM/SIGINT.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pdm_core::http::Endpoint;
use pdm_core::{Config, Ctx};
use pdm_runtime::Shutdown;

#[tokio::main]
async fn main() -> ExitCode {
    let (config, ctx) = match pdm_runtime::start() {
        Ok(started) => started,
        Err(code) => return code,
    };
    pdm_runtime::report(run(config, ctx).await)
}

async fn run(config: Config, ctx: Arc<Ctx>) -> anyhow::Result<()> {
    ctx.pdm
        .store()
        .migrate()
        .await
        .context("cannot apply database migrations")?;
    let shutdown = Shutdown::on_signals();
    let maintenance = tokio::spawn(maintain_until(
        ctx.clone(),
        config.sweeper_interval,
        shutdown.clone(),
    ));
    pdm_runtime::serve_endpoint(Endpoint::router(ctx), config.port, shutdown).await?;
    maintenance.await.context("the maintenance task panicked")
}

/// Every `interval` until shutdown: deletes lapsed reservations and retries owed DNS changes.
/// A run in progress finishes before the task stops.
async fn maintain_until(ctx: Arc<Ctx>, interval: Duration, shutdown: Shutdown) {
    // The first run waits one interval: start-up answers its probes first, and a change owed
    // before a restart is not due before its lease (two intervals) ends anyway.
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
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
