//! The reverse proxy in front of a real kube-apiserver: TLS with the apiserver's own certificate
//! (clients keep the kubeconfig's CA), the simulator's `/_sim/` endpoints, fault layer and
//! request log, the tenant's namespace rewriting, then the request as sent to the apiserver. Watches stream through line
//! by line. Must not change what the apiserver decides.

use super::http::Upstream;
use super::tenancy::Tenancy;
use crate::api::{self, Request};
use crate::bearer::BearerPolicy;
use crate::server::{Screened, Shared, log, screen, sim_endpoint};
use crate::status::ApiError;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

type Body = BoxBody<Bytes, std::io::Error>;
type Response = hyper::Response<Body>;

/// What the proxy forwards to, and how.
pub struct Proxy {
    /// The apiserver, with the admin token.
    pub upstream: Upstream,
    /// The tenant's namespaces.
    pub tenancy: Tenancy,
    /// When it requires a token, clients must send one it accepts, and the admin token goes
    /// upstream in its place; otherwise the client's own credentials go to the apiserver
    /// unchanged.
    pub bearer: BearerPolicy,
}

/// A TLS server configuration from the apiserver's PEM certificate chain and key (HTTP/1.1).
pub fn tls_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("reading the serving certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("reading the serving key: {e}"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS settings: {e}"))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("the serving certificate: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts TLS connections until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shared: Shared,
    proxy: Arc<Proxy>,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let Ok((socket, _)) = accepted else { continue };
        let (acceptor, shared, proxy) = (acceptor.clone(), shared.clone(), proxy.clone());
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(socket).await else {
                return;
            };
            let service = service_fn(move |req| handle(shared.clone(), proxy.clone(), req));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = stop.changed() => {}
            }
        });
    }
}

fn full(code: u16, body: Bytes, content_type: &str) -> Response {
    let mut resp = hyper::Response::new(Full::new(body).map_err(|e| match e {}).boxed());
    *resp.status_mut() =
        hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

fn status(code: u16, body: &serde_json::Value, retry_after: Option<u32>) -> Response {
    let mut resp = full(code, Bytes::from(body.to_string()), "application/json");
    if let Some(secs) = retry_after
        && let Ok(v) = hyper::header::HeaderValue::from_str(&secs.to_string())
    {
        resp.headers_mut().insert(hyper::header::RETRY_AFTER, v);
    }
    resp
}

fn header(req: &hyper::Request<Incoming>, name: hyper::header::HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn handle(
    shared: Shared,
    proxy: Arc<Proxy>,
    req: hyper::Request<Incoming>,
) -> Result<Response, std::io::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let content_type = header(&req, hyper::header::CONTENT_TYPE);
    let accept = header(&req, hyper::header::ACCEPT);
    let auth = header(&req, hyper::header::AUTHORIZATION);
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    if let Some(resp) = sim_endpoint(&shared, method.as_str(), &path, &raw_query, &body) {
        return Ok(resp.map(|b| b.map_err(|e| match e {}).boxed()));
    }
    let request = Request {
        method: method.as_str().to_string(),
        path: path.clone(),
        query: api::parse_query(&raw_query),
        content_type: content_type.clone(),
        body: Vec::new(),
    };
    let (code, resp) = match screen(&shared, method.as_str(), &path).await {
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
        } => {
            log(&shared, &request, code, started, true);
            return Ok(status(code, &body, retry_after));
        }
        Screened::Pass => {
            let authorised = proxy.bearer.allows(auth.as_deref());
            let protobuf = content_type
                .as_deref()
                .is_some_and(|c| c.contains("protobuf"));
            match authorised {
                false => (401, status(401, &ApiError::unauthorized().body(), None)),
                // A tenant's namespaces are rewritten in JSON; a protobuf body would reach
                // another namespace than the one it names.
                true if protobuf && !proxy.tenancy.prefix().is_empty() => {
                    let e = ApiError::unsupported_media_type(
                        "canary-sim's tenant proxy rewrites namespaces in JSON bodies only; send application/json",
                    );
                    (415, status(415, &e.body(), None))
                }
                true => {
                    let forward = Forward {
                        method,
                        path: &path,
                        query: &raw_query,
                        content_type,
                        accept,
                        auth,
                        body,
                    };
                    forward.send(&proxy).await
                }
            }
        }
    };
    log(&shared, &request, code, started, false);
    Ok(resp)
}

/// One request on its way to the apiserver.
struct Forward<'a> {
    method: hyper::Method,
    path: &'a str,
    query: &'a str,
    content_type: Option<String>,
    accept: Option<String>,
    auth: Option<String>,
    body: Bytes,
}

impl Forward<'_> {
    fn watching(&self) -> bool {
        api::parse_query(self.query)
            .iter()
            .any(|(k, v)| k == "watch" && (v == "true" || v == "1"))
    }

    fn body(&self, tenancy: &Tenancy) -> Bytes {
        if tenancy.prefix().is_empty() {
            return self.body.clone();
        }
        // Server-side apply bodies may be YAML (kubectl's are); JSON is YAML too, so the
        // rewritten body goes as JSON under the same content type.
        let parsed = serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .or_else(|| {
                let yaml = self
                    .content_type
                    .as_deref()
                    .is_some_and(|c| c.contains("yaml"));
                let text = std::str::from_utf8(&self.body).ok().filter(|_| yaml)?;
                serde_saphyr::from_str::<serde_json::Value>(text).ok()
            });
        match parsed {
            Some(mut v) => {
                tenancy.body(&mut v);
                Bytes::from(v.to_string())
            }
            None => self.body.clone(),
        }
    }

    async fn send(self, proxy: &Proxy) -> (u16, Response) {
        let t = &proxy.tenancy;
        let mut url = proxy.upstream.url(&t.path(self.path));
        if !self.query.is_empty() {
            url = format!("{url}?{}", t.query(self.query));
        }
        let method = reqwest::Method::from_bytes(self.method.as_str().as_bytes())
            .unwrap_or(reqwest::Method::GET);
        let mut req = match (proxy.bearer.required(), &self.auth) {
            (false, Some(auth)) => proxy
                .upstream
                .client()
                .request(method, &url)
                .header(reqwest::header::AUTHORIZATION, auth),
            (false, None) => proxy.upstream.client().request(method, &url),
            (true, _) => proxy.upstream.request(method, &url),
        };
        // Protobuf bodies cannot be rewritten; JSON is what every client also accepts.
        let accept = match &self.accept {
            Some(a) if !a.contains("protobuf") => a.clone(),
            _ => "application/json".into(),
        };
        req = req.header(reqwest::header::ACCEPT, accept);
        if let Some(ct) = &self.content_type {
            req = req.header(reqwest::header::CONTENT_TYPE, ct);
        }
        if !self.body.is_empty() {
            req = req.body(self.body(t));
        }
        if !self.watching() {
            req = req.timeout(Duration::from_secs(60));
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                let body = serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "message": format!("canary-sim proxy: the apiserver did not answer: {e}"), "code": 502});
                return (502, status(502, &body, None));
            }
        };
        let code = resp.status().as_u16();
        let mut out = match self.watching() && code == 200 {
            true => streamed(resp, t.clone()),
            false => buffered(resp, t).await,
        };
        *out.status_mut() =
            hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
        (code, out)
    }
}

fn copy_headers(from: &reqwest::Response, to: &mut Response) {
    for name in [
        reqwest::header::CONTENT_TYPE,
        reqwest::header::RETRY_AFTER,
        reqwest::header::WARNING,
    ] {
        if let Some(v) = from.headers().get(&name)
            && let Ok(v) = hyper::header::HeaderValue::from_bytes(v.as_bytes())
            && let Ok(n) = hyper::header::HeaderName::from_bytes(name.as_str().as_bytes())
        {
            to.headers_mut().insert(n, v);
        }
    }
}

async fn buffered(resp: reqwest::Response, tenancy: &Tenancy) -> Response {
    let mut out = full(200, Bytes::new(), "application/json");
    copy_headers(&resp, &mut out);
    let bytes = resp.bytes().await.unwrap_or_default();
    *out.body_mut() = Full::new(Bytes::from(tenancy.response(&bytes)))
        .map_err(|e| match e {})
        .boxed();
    out
}

/// A watch: newline-delimited events, each rewritten whole, as they arrive.
fn streamed(resp: reqwest::Response, tenancy: Tenancy) -> Response {
    let mut out = full(200, Bytes::new(), "application/json");
    copy_headers(&resp, &mut out);
    let stream = futures::stream::unfold(
        (resp, Vec::<u8>::new(), tenancy, false),
        |(mut resp, mut pending, tenancy, done)| async move {
            if done {
                return None;
            }
            loop {
                match resp.chunk().await {
                    Ok(Some(chunk)) => {
                        pending.extend_from_slice(&chunk);
                        if let Some(cut) = pending.iter().rposition(|b| *b == b'\n') {
                            let rest = pending.split_off(cut + 1);
                            let lines = tenancy.response(&pending);
                            let frame = Ok(Frame::data(Bytes::from(lines)));
                            return Some((frame, (resp, rest, tenancy, false)));
                        }
                    }
                    _ => {
                        let last = tenancy.response(&pending);
                        let frame = Ok(Frame::data(Bytes::from(last)));
                        return Some((frame, (resp, Vec::new(), tenancy, true)));
                    }
                }
            }
        },
    );
    *out.body_mut() = BodyExt::boxed(StreamBody::new(stream));
    out
}
