//! pdm-server: the combined container. Every endpoint on `$PORT` at once, migrations in the
//! background until the database takes them (`/readyz` says 503 with the reason until then),
//! then maintenance (sweeper and DNS reconciler) every `PDM_SWEEPER_INTERVAL`; graceful stop
//! on SIGTERM/SIGINT.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use backon::{ExponentialBuilder, Retryable};
use pdm_core::http::Endpoint;
use pdm_core::{Config, Ctx};
use pdm_runtime::Shutdown;

#[tokio::main]
async fn main() -> ExitCode {
    let (config, ctx) = match pdm_runtime::start_combined().await {
        Ok(started) => started,
        Err(code) => return code,
    };
    pdm_runtime::report(run(config, ctx).await)
}

async fn run(config: Config, ctx: Arc<Ctx>) -> anyhow::Result<()> {
    let shutdown = Shutdown::on_signals();
    let background = tokio::spawn({
        let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
        async move {
            if migrate_until_applied(&ctx, &shutdown).await {
                maintain_until(ctx, config.sweeper_interval, shutdown).await;
            }
        }
    });
    pdm_runtime::serve_endpoint(Endpoint::router(ctx), config.port, shutdown).await?;
    background.await.context("the background task panicked")
}

/// Applies the migrations, retrying with backoff while the database refuses them (down, not
/// created yet, starting up), so that a restart is never needed. `false` if shutdown came
/// first.
async fn migrate_until_applied(ctx: &Ctx, shutdown: &Shutdown) -> bool {
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(30))
        .without_max_times()
        .with_jitter();
    let migrated = (|| ctx.pdm.store().migrate())
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .notify(|error, delay| {
            tracing::warn!(error.message = %error, ?delay, "cannot apply database migrations yet; retrying");
        });
    tokio::select! {
        _ = migrated => {
            tracing::info!("database migrations applied");
            true
        }
        () = shutdown.wait() => false,
    }
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
