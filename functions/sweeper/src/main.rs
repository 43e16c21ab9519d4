//! pdm-sweeper: one maintenance run (sweep lapsed reservations, retry owed DNS changes) per
//! EventBridge event on Lambda, per POST from a Knative PingSource, or once with `--once`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let (config, ctx) = match pdm_runtime::start_function().await {
        Ok(started) => started,
        Err(code) => return code,
    };
    pdm_runtime::run_job("sweeper", config.port, move || {
        let ctx = ctx.clone();
        async move { Ok(serde_json::to_value(ctx.pdm.maintain().await?)?) }
    })
    .await
}
