//! pdm-commit: `POST /api/v1/pool/{domain}/commit` as a function, on AWS Lambda or on `$PORT` (Knative).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    pdm_runtime::function("pdm-commit").await
}
