//! pdm-migrate: applies the embedded migrations, as a deploy step (`--once`), a Lambda
//! invocation or a POST. Safe to run from several places at once: sqlx holds an advisory lock.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let (config, ctx) = match pdm_runtime::start_function().await {
        Ok(started) => started,
        Err(code) => return code,
    };
    pdm_runtime::run_job("migrate", config.port, move || {
        let ctx = ctx.clone();
        async move {
            let store = ctx.pdm.store();
            store.migrate().await?;
            let latest = store.migrator().iter().map(|m| m.version).max();
            Ok(serde_json::json!({ "migrated": true, "version": latest }))
        }
    })
    .await
}
