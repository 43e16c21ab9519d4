//! One log shape for every binary: JSON lines, filtered by `PDM_LOG_LEVEL`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls (tests) do nothing.
pub fn init(filter: &str) {
    let (filter, rejected) = match EnvFilter::try_new(filter) {
        Ok(filter) => (filter, None),
        Err(error) => (EnvFilter::new("info"), Some(error)),
    };
    let installed = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_writer(std::io::stderr)
        .try_init()
        .is_ok();
    if let (true, Some(error)) = (installed, rejected) {
        tracing::warn!(error.message = %error, "PDM_LOG_LEVEL is not a valid filter: using info");
    }
}
