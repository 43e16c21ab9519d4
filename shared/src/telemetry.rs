//! One log shape for every binary: JSON lines (or `pretty` for a terminal) on stderr, filtered
//! by `PDM_LOG_LEVEL`. Events inside a request carry its `request_id` in their span list.
//!
//! The filter is `Targets` (`info`, `pdm_core=debug,info`): target and level only, decided
//! once per call site, where `EnvFilter` would also match spans and fields on every event and
//! bring a regex engine (about 1 MB a binary).

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Installs the global subscriber once; later calls (tests) do nothing.
pub fn init(filter: &str, format: LogFormat) {
    let (filter, rejected) = match filter.parse::<Targets>() {
        Ok(filter) => (filter, None),
        Err(error) => (
            Targets::new().with_default(tracing::Level::INFO),
            Some(error),
        ),
    };
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(false)
            .finish()
            .with(filter)
            .try_init(),
        LogFormat::Pretty => builder.pretty().finish().with(filter).try_init(),
    }
    .is_ok();
    if let (true, Some(error)) = (installed, rejected) {
        tracing::warn!(error.message = %error, "PDM_LOG_LEVEL is not a valid filter: using info");
    }
}
