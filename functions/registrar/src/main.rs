//! pdm-registrar: bring-your-own domains (`POST /api/v1/registrar/{registrar}/validate`,
//! `/set-ns`, `/set-dns`) as a function, on AWS Lambda or on `$PORT` (Knative).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    pdm_runtime::function("pdm-registrar").await
}
