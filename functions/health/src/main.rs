//! pdm-health: the probes (`GET /healthz`, `/livez`, `/readyz`), the served contract
//! (`/openapi.json`, `/openapi.yaml`) and the contract's 404/405 for whatever no other route
//! matches (API Gateway's `$default`), as a function on AWS Lambda or on `$PORT` (Knative).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    pdm_runtime::function("pdm-health").await
}
