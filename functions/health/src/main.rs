//! pdm-health: the probes (`GET /healthz`, `/livez`, `/readyz`) as a function, on AWS Lambda
//! or on `$PORT` (Knative).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    pdm_runtime::function("pdm-health").await
}
