//! pdm-reserved: `GET /api/v1/reserved` as a function, on AWS Lambda or on `$PORT` (Knative).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    pdm_runtime::function("pdm-reserved").await
}
