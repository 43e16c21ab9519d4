//! A fake of the Lambda Runtime API (2018-06-01), which AWS and `cargo lambda watch` serve to
//! a function: the function long-polls `invocation/next` for an event and posts its answer to
//! `invocation/{id}/response` (or `/error`). Tests hand it events and get the answers back.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use pdm_runtime::Shutdown;
use serde_json::Value;
use tokio::sync::{Mutex, mpsc, oneshot};

type Answer = Result<Value, Value>;

struct State {
    events: Mutex<mpsc::Receiver<(String, Value)>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
}

pub struct FakeLambdaRuntime {
    /// `host:port`, as `AWS_LAMBDA_RUNTIME_API` takes it.
    pub address: String,
    queue: mpsc::Sender<(String, Value)>,
    state: Arc<State>,
    next_id: AtomicU64,
    shutdown: Shutdown,
}

impl FakeLambdaRuntime {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (queue, events) = mpsc::channel(16);
        let state = Arc::new(State {
            events: Mutex::new(events),
            waiting: Mutex::new(HashMap::new()),
        });
        let shutdown = Shutdown::new();
        let served = state.clone();
        let service = tower::service_fn(move |request: Request<hyper::body::Incoming>| {
            let state = served.clone();
            async move { Ok::<_, Infallible>(answer(&state, request).await) }
        });
        tokio::spawn(pdm_runtime::serve(listener, service, shutdown.clone()));
        Self {
            address,
            queue,
            state,
            next_id: AtomicU64::new(1),
            shutdown,
        }
    }

    /// The environment the Lambda service gives a function's process.
    pub fn env(&self, function: &str) -> Vec<(String, String)> {
        [
            ("AWS_LAMBDA_RUNTIME_API", self.address.as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", function),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/pdm"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/25/[$LATEST]test"),
            ("AWS_REGION", "eu-central-1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// Hands `event` to the function and waits for its answer: `Ok` with the response
    /// document, `Err` with the error document.
    pub async fn invoke(&self, event: Value) -> Answer {
        let id = format!("req-{}", self.next_id.fetch_add(1, Ordering::SeqCst));
        let (answered, answer) = oneshot::channel();
        self.state.waiting.lock().await.insert(id.clone(), answered);
        self.queue
            .send((id, event))
            .await
            .expect("the runtime is up");
        answer.await.expect("the invocation is answered")
    }
}

impl Drop for FakeLambdaRuntime {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

async fn answer(state: &State, request: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let rest = path
        .strip_prefix("/2018-06-01/runtime/")
        .unwrap_or_default();
    match (method, rest.split('/').collect::<Vec<_>>().as_slice()) {
        (Method::GET, ["invocation", "next"]) => {
            // Long poll, as the real API does.
            let Some((id, event)) = state.events.lock().await.recv().await else {
                return respond(StatusCode::GONE, Bytes::new(), None);
            };
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 30_000;
            let headers = [
                ("lambda-runtime-aws-request-id", id),
                ("lambda-runtime-deadline-ms", deadline.to_string()),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:eu-central-1:123456789012:function:pdm".to_owned(),
                ),
                (
                    "lambda-runtime-trace-id",
                    "Root=1-00000000-000000000000000000000000".to_owned(),
                ),
            ];
            respond(
                StatusCode::OK,
                Bytes::from(event.to_string()),
                Some(&headers),
            )
        }
        (Method::POST, ["invocation", id, outcome @ ("response" | "error")]) => {
            let document = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if let Some(waiter) = state.waiting.lock().await.remove(*id) {
                let answer = if *outcome == "response" {
                    Ok(document)
                } else {
                    Err(document)
                };
                let _ = waiter.send(answer);
            }
            respond(StatusCode::ACCEPTED, Bytes::new(), None)
        }
        (Method::POST, ["init", "error"]) => {
            panic!(
                "the function failed to start: {}",
                String::from_utf8_lossy(&body)
            )
        }
        _ => respond(StatusCode::NOT_FOUND, Bytes::new(), None),
    }
}

fn respond(
    status: StatusCode,
    body: Bytes,
    headers: Option<&[(&'static str, String)]>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    for (name, value) in headers.unwrap_or_default() {
        response
            .headers_mut()
            .insert(*name, value.parse().expect("a header value"));
    }
    response
}
