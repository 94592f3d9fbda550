//! The bearer token of a cloud identity on every request to the Kubernetes API: a tower layer
//! outside kube's client stack that takes the current token from `cloud::Tokens` (renewed before
//! it lapses) and, when the API answers 401 all the same, renews it once and sends the request
//! again. A second 401 goes back to the caller, who says the credentials were refused. Must not
//! know how tokens are made.

use crate::cloud::Tokens;
use futures::future::BoxFuture;
use http::{Request, Response, StatusCode, header::AUTHORIZATION};
use http_body_util::BodyExt;
use kube::client::Body;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::buffer::Buffer;
use tower::{BoxError, Layer, Service, ServiceExt};

/// Adds the token to requests.
#[derive(Clone)]
pub struct BearerLayer {
    tokens: Arc<Tokens>,
}

impl BearerLayer {
    /// A layer over `tokens`.
    pub fn new(tokens: Arc<Tokens>) -> BearerLayer {
        BearerLayer { tokens }
    }
}

type Inner<B> = Buffer<Request<Body>, BoxFuture<'static, Result<Response<B>, BoxError>>>;

impl<S, B> Layer<S> for BearerLayer
where
    S: Service<Request<Body>, Response = Response<B>, Error = BoxError> + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Service = Bearer<B>;

    fn layer(&self, inner: S) -> Bearer<B> {
        // kube's stack is not Clone; a buffer lets a request be sent twice (after a 401).
        let inner = tower::util::BoxService::new(inner);
        Bearer {
            inner: Buffer::new(inner, 1024),
            tokens: self.tokens.clone(),
        }
    }
}

/// The service the layer makes.
pub struct Bearer<B: Send + 'static> {
    inner: Inner<B>,
    tokens: Arc<Tokens>,
}

impl<B: Send + 'static> Clone for Bearer<B> {
    fn clone(&self) -> Self {
        Bearer {
            inner: self.inner.clone(),
            tokens: self.tokens.clone(),
        }
    }
}

impl<B: Send + 'static> Service<Request<Body>> for Bearer<B> {
    type Response = Response<B>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<B>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The ready clone goes with the request; a fresh one stays for the next.
        let ready = self.inner.clone();
        let mut first = std::mem::replace(&mut self.inner, ready);
        let tokens = self.tokens.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await?.to_bytes();
            let again = |token: &str| -> Result<Request<Body>, BoxError> {
                let mut req = Request::builder()
                    .method(parts.method.clone())
                    .uri(parts.uri.clone())
                    .version(parts.version);
                if let Some(headers) = req.headers_mut() {
                    *headers = parts.headers.clone();
                    let mut value: http::HeaderValue = format!("Bearer {token}").parse()?;
                    value.set_sensitive(true);
                    headers.insert(AUTHORIZATION, value);
                }
                Ok(req.body(Body::from(body.clone()))?)
            };
            let token = tokens.bearer().await?;
            let resp = first.call(again(&token)?).await?;
            if resp.status() != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            let renewed = tokens.renew(&token).await?;
            let mut inner = first;
            inner.ready().await?.call(again(&renewed)?).await
        })
    }
}
