//! HTTP to the real control plane: one reqwest client per upstream, trusting the apiserver's own
//! CA (or, for the controller manager's self-signed health port, nothing), with the admin token.
//! Must not decide anything about faults or namespaces.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A client for one server.
#[derive(Clone)]
pub struct Upstream {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(30))
}

/// rustls roots holding every certificate of a PEM bundle.
pub fn roots(ca_pem: &[u8]) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|e| format!("reading the CA bundle: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("adding a CA certificate: {e}"))?;
    }
    Ok(roots)
}

fn tls(roots: rustls::RootCertStore) -> Result<rustls::ClientConfig, String> {
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl Upstream {
    fn with(
        tls: rustls::ClientConfig,
        base: &str,
        token: Option<&str>,
    ) -> Result<Upstream, String> {
        let client = builder()
            .use_preconfigured_tls(tls)
            .build()
            .map_err(|e| format!("building an HTTP client: {e}"))?;
        Ok(Upstream {
            client,
            base: base.trim_end_matches('/').to_string(),
            token: token.map(str::to_string),
        })
    }

    /// A client for `base` (`https://…`) trusting `ca_pem`, sending `token` when given.
    pub fn new(base: &str, ca_pem: &[u8], token: Option<&str>) -> Result<Upstream, String> {
        Self::with(tls(roots(ca_pem)?)?, base, token)
    }

    /// A client for plain HTTP (etcd's health endpoint).
    pub fn plain() -> Result<Upstream, String> {
        Self::with(tls(rustls::RootCertStore::empty())?, "", None)
    }

    /// A client that accepts any certificate: only for the controller manager's health port,
    /// whose certificate it generates itself on loopback.
    pub fn insecure() -> Result<Upstream, String> {
        let mut config = tls(rustls::RootCertStore::empty())?;
        config
            .dangerous()
            .set_certificate_verifier(Arc::new(AnyCertificate(provider())));
        Self::with(config, "", None)
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to `url` with the token (when this client has one).
    pub fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let req = self.client.request(method, url);
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// The raw client (for requests that carry their own Authorization).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The status of a GET, `None` when nothing answers.
    pub async fn status(&self, url: &str) -> Option<u16> {
        self.request(reqwest::Method::GET, url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    }

    /// A JSON request to `path` under the base; `(status, body)`.
    pub async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), String> {
        let mut req = self
            .request(method, &self.url(path))
            .timeout(Duration::from_secs(30));
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(b.to_string());
        }
        let resp = req.send().await.map_err(|e| format!("{path}: {e}"))?;
        let code = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| format!("{path}: {e}"))?;
        Ok((code, serde_json::from_slice(&bytes).unwrap_or_default()))
    }
}

/// Polls `check` every 100 ms until it holds or `limit` passes; whether it held.
pub async fn wait_until<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
