//! pdm-list: `GET /api/v1/pool/{domain}/list` and `/allocation` as a function, on AWS Lambda or on `$PORT` (Knative).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    pdm_runtime::function("pdm-list").await
}
