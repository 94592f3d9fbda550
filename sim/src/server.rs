//! Sockets: the API listener (Kubernetes REST plus `/_sim/` admin endpoints) and the metrics
//! listener, over hyper. Applies authentication, faults and the request log around `api::handle`.

use crate::api::{self, Request};
use crate::bearer::BearerPolicy;
use crate::faults::{Faults, Injected, LogEntry};
use crate::state::State;
use crate::status::ApiError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The shared state.
pub type Shared = Arc<Mutex<State>>;

/// Locks the state, surviving a panicked holder (the data stays usable for tests).
pub fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A buffered response.
pub type Response = hyper::Response<Full<Bytes>>;

fn json_response(code: u16, body: &serde_json::Value) -> Response {
    let mut resp = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// Accepts connections until `shutdown` turns true.
pub async fn serve<F, Fut>(listener: TcpListener, mut shutdown: watch::Receiver<bool>, handler: F)
where
    F: Fn(hyper::Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Response, std::io::Error>> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let Ok((socket, _)) = accepted else { continue };
        let handler = handler.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(socket), service_fn(handler));
            tokio::select! {
                _ = conn => {}
                _ = stop.changed() => {}
            }
        });
    }
}

/// Handles one request on the API port.
pub async fn api_request(
    shared: Shared,
    policy: BearerPolicy,
    req: hyper::Request<Incoming>,
) -> Result<Response, std::io::Error> {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let auth = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(e) => return Err(std::io::Error::other(e)),
    };
    if let Some(resp) = sim_endpoint(&shared, &method, &path, &raw_query, &body) {
        return Ok(resp);
    }
    let request = Request {
        method: method.clone(),
        path: path.clone(),
        query: api::parse_query(&raw_query),
        content_type,
        body,
    };
    let screened = screen(&shared, &method, &path).await;
    let (code, body, retry_after) = match &screened {
        Screened::Drop => {
            log(&shared, &request, 0, started, true);
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "injected drop",
            ));
        }
        Screened::Answer {
            code,
            body,
            retry_after,
        } => (*code, body.clone(), *retry_after),
        Screened::Pass => {
            let result = if policy.allows(auth.as_deref()) {
                api::handle(&mut lock(&shared), &request)
            } else {
                Err(ApiError::unauthorized())
            };
            match result {
                Ok((code, body)) => (code, body, None),
                Err(e) => (e.code, e.body(), None),
            }
        }
    };
    log(
        &shared,
        &request,
        code,
        started,
        !matches!(screened, Screened::Pass),
    );
    let mut resp = json_response(code, &body);
    if let Some(secs) = retry_after
        && let Ok(v) = hyper::header::HeaderValue::from_str(&secs.to_string())
    {
        resp.headers_mut().insert(hyper::header::RETRY_AFTER, v);
    }
    Ok(resp)
}

/// What the fault layer decided for one request, after its latency and any stall.
pub enum Screened {
    /// Serve it (the store, or the real apiserver behind the proxy).
    Pass,
    /// Answer with this injected status, body and `Retry-After`.
    Answer {
        /// HTTP status.
        code: u16,
        /// A Kubernetes `Status` body.
        body: serde_json::Value,
        /// `Retry-After` seconds.
        retry_after: Option<u32>,
    },
    /// Close the connection without an answer.
    Drop,
}

/// Applies the injected faults to one request: waits out latency and spikes, holds a stalled
/// request until the faults change, and says whether to serve, answer or drop it. The one fault
/// layer of both back ends (the simulator's API and the proxy in front of a real apiserver).
pub async fn screen(shared: &Shared, method: &str, path: &str) -> Screened {
    let (decision, latency, generation) = {
        let mut st = lock(shared);
        let latency = st.injector.faults.latency_ms;
        let applies = st
            .injector
            .faults
            .path_prefix
            .as_deref()
            .is_none_or(|p| path.starts_with(p));
        let decision = st.injector.decide(method, path);
        let spike = if applies { st.injector.spike() } else { 0 };
        (
            decision,
            if applies { latency + spike } else { 0 },
            st.injector.generation,
        )
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if decision == Injected::Stall {
        while lock(shared).injector.generation == generation {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    match decision {
        Injected::None => Screened::Pass,
        Injected::Drop | Injected::Stall => Screened::Drop,
        Injected::Throttle(secs) => Screened::Answer {
            code: 429,
            body: ApiError::injected(429).body(),
            retry_after: Some(secs),
        },
        Injected::Status(409) => Screened::Answer {
            code: 409,
            body: ApiError {
                code: 409,
                reason: "Conflict",
                message: "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again (injected)".into(),
                details: serde_json::Value::Null,
            }
            .body(),
            retry_after: None,
        },
        Injected::Status(code) => Screened::Answer {
            code,
            body: ApiError::injected(code).body(),
            retry_after: None,
        },
    }
}

/// Appends one request to the log.
pub fn log(shared: &Shared, req: &Request, status: u16, started: Instant, injected: bool) {
    let query = req
        .query
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    lock(shared).record(LogEntry {
        seq: 0,
        method: req.method.clone(),
        path: req.path.clone(),
        query,
        status,
        latency_ms: started.elapsed().as_millis() as u64,
        at_ms: 0,
        injected,
    });
}

/// The simulator's own endpoints on the API port (`/_sim/…`: admin and the `sim` metrics
/// provider), the same in front of a real apiserver; `None` for every other path.
pub fn sim_endpoint(
    shared: &Shared,
    method: &str,
    path: &str,
    raw_query: &str,
    body: &[u8],
) -> Option<Response> {
    if path == "/_sim/prometheus/api/v1/query" {
        return Some(prometheus_query(shared, raw_query));
    }
    let admin = path.strip_prefix("/_sim/")?;
    Some(admin_request(shared, method, admin, body))
}

/// `/_sim/requests` (GET, DELETE), `/_sim/faults` (GET, PUT), `/_sim/healthz`.
fn admin_request(shared: &Shared, method: &str, path: &str, body: &[u8]) -> Response {
    let mut st = lock(shared);
    match (method, path) {
        ("GET", "healthz") => json_response(200, &serde_json::json!({"ok": true})),
        ("GET", "requests") => {
            json_response(200, &serde_json::to_value(&st.log).unwrap_or_default())
        }
        ("DELETE", "requests") => {
            st.log.clear();
            json_response(200, &serde_json::json!({"cleared": true}))
        }
        ("GET", "faults") => json_response(
            200,
            &serde_json::to_value(&st.injector.faults).unwrap_or_default(),
        ),
        ("PUT", "faults") => match serde_json::from_slice::<Faults>(body) {
            Ok(f) => {
                st.injector.set(f);
                json_response(
                    200,
                    &serde_json::to_value(&st.injector.faults).unwrap_or_default(),
                )
            }
            Err(e) => json_response(
                400,
                &ApiError::bad_request(format!("invalid faults: {e}")).body(),
            ),
        },
        _ => json_response(404, &ApiError::no_route(&format!("/_sim/{path}")).body()),
    }
}

/// The `sim` metrics provider's instant query (served on both ports).
fn prometheus_query(shared: &Shared, raw_query: &str) -> Response {
    let promql = api::parse_query(raw_query)
        .into_iter()
        .find(|(k, _)| k == "query")
        .map(|(_, v)| v)
        .unwrap_or_default();
    let (code, body) = lock(shared).history.query(&promql, Instant::now());
    json_response(code, &body)
}

/// Handles one request on the metrics port: `/metrics` for Prometheus, and the `sim` metrics
/// provider's query API under `/_sim/prometheus`.
pub async fn metrics_request(
    shared: Shared,
    req: hyper::Request<Incoming>,
) -> Result<Response, std::io::Error> {
    if req.uri().path() == "/_sim/prometheus/api/v1/query" {
        return Ok(prometheus_query(&shared, req.uri().query().unwrap_or("")));
    }
    if req.uri().path() != "/metrics" {
        return Ok(json_response(
            404,
            &ApiError::no_route(req.uri().path()).body(),
        ));
    }
    let text = lock(&shared).dataplane.render();
    let mut resp = hyper::Response::new(Full::new(Bytes::from(text)));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(resp)
}
