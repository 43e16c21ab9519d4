//! One log shape for every binary: JSON lines (or `pretty` for a terminal) on stderr, filtered
//! by `PDM_LOG_LEVEL`. Events inside a request carry its `request_id` in their span list.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber once; later calls (tests) do nothing.
pub fn init(filter: &str, format: LogFormat) {
    let (filter, rejected) = match EnvFilter::try_new(filter) {
        Ok(filter) => (filter, None),
        Err(error) => (EnvFilter::new("info"), Some(error)),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Json => builder.json().with_current_span(false).try_init(),
        LogFormat::Pretty => builder.pretty().try_init(),
    }
    .is_ok();
    if let (true, Some(error)) = (installed, rejected) {
        tracing::warn!(error.message = %error, "PDM_LOG_LEVEL is not a valid filter: using info");
    }
}
