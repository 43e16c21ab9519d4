//! Scheduled jobs (the sweeper, migrations): one run per Lambda event (EventBridge), per
//! HTTP POST (Knative PingSource), or once with `--once` (a Kubernetes CronJob or Job).

use std::convert::Infallible;
use std::future::Future;
use std::process::ExitCode;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};

use crate::{Shutdown, bind_port, on_lambda, report, serve};

/// Runs `job` as the environment asks: per Lambda event, once (`--once`), or per `POST` on
/// `port`. A run's JSON summary is the event's answer, the POST's body or the last log line.
pub async fn run_job<J, F>(name: &'static str, port: u16, job: J) -> ExitCode
where
    J: Fn() -> F + Clone + Send + Sync + 'static,
    F: Future<Output = anyhow::Result<Value>> + Send,
{
    if on_lambda() {
        let handler =
            lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<Value>| {
                let job = job.clone();
                async move {
                    let source = event.payload.get("source").cloned().unwrap_or(Value::Null);
                    tracing::info!(job = name, %source, "scheduled run");
                    job().await.map_err(|e| format!("{name} failed: {e:#}"))
                }
            });
        return report(
            lambda_runtime::run(handler)
                .await
                .map_err(|e| anyhow::anyhow!("the Lambda runtime stopped: {e}")),
        );
    }
    if std::env::args().any(|arg| arg == "--once") {
        return report(job().await.map(|summary| {
            tracing::info!(job = name, %summary, "ran once");
        }));
    }
    let service = tower::service_fn(move |request: Request<hyper::body::Incoming>| {
        let job = job.clone();
        async move { Ok::<_, Infallible>(answer(name, request.method(), job).await) }
    });
    let served = async {
        let listener = bind_port(port).await?;
        serve(listener, service, Shutdown::on_signals()).await
    };
    report(served.await.map_err(anyhow::Error::from))
}

/// `POST` (any path: PingSource posts a CloudEvent to `/`) runs the job once.
async fn answer<J, F>(name: &str, method: &Method, job: J) -> Response<Full<Bytes>>
where
    J: Fn() -> F,
    F: Future<Output = anyhow::Result<Value>>,
{
    let (status, body) = if method != Method::POST {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"error": "method-not-allowed", "detail": "POST runs the job"}),
        )
    } else {
        match job().await {
            Ok(summary) => (StatusCode::OK, summary),
            Err(error) => {
                tracing::error!(job = name, error.cause_chain = ?error, "run failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"error": "internal", "detail": format!("{name} failed")}),
                )
            }
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
