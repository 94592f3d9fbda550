//! Local stand-ins for the cloud token services canary-gate's native authentication talks to:
//! GitHub's OIDC token endpoint, AWS STS, the EKS API, Google STS, IAM Credentials and OAuth 2.0,
//! Microsoft Entra ID and Amazon Managed Prometheus. Each listens on its own 127.0.0.1 port so
//! its paths are exactly the real service's; all share one book of what was issued. They are
//! strict: they check what the real service checks and refuse the rest in its error shape.
//! [`CloudHandle::authenticator`] lets the simulated Kubernetes API accept the cluster tokens
//! (EKS, GKE, AKS) they vouch for.
//!
//! Owns the listeners, their runtime and the handle. Must not touch the simulator's own state:
//! the only link to it is the [`Authenticator`] a test puts in its `SimConfig`.

mod amp;
mod aws;
mod eks;
mod entra;
mod github;
mod google;
pub mod http;
pub mod jwt;
pub mod sigv4;
mod state;
mod sts;

pub use aws::EKS_TOKEN_PREFIX;
pub use entra::ENTRA_AUDIENCE;
pub use state::{ACCOUNT, CloudCounts, ISSUER, Issued, Requests, SUBJECT};
pub use sts::STS_AUDIENCE;

use crate::Authenticator;
use crate::server::{self, Response};
use state::Cloud;
use std::sync::Arc;
use std::time::Duration;

/// What the stand-ins accept and answer.
#[derive(Clone, Debug)]
pub struct CloudConfig {
    /// The bearer the GitHub OIDC endpoint requires (`ACTIONS_ID_TOKEN_REQUEST_TOKEN`).
    pub oidc_request_token: String,
    /// Accepted long-lived AWS keys: (access key id, secret).
    pub aws_static: Vec<(String, String)>,
    /// The cluster name an EKS token must be signed for (`x-k8s-aws-id`).
    pub eks_cluster: String,
    /// How long after its `X-Amz-Date` an EKS token is accepted (EKS: 15 minutes).
    pub eks_token_max_age: Duration,
    /// What `DescribeCluster` returns as the endpoint.
    pub eks_endpoint: String,
    /// What `DescribeCluster` returns as `certificateAuthority.data`.
    pub eks_ca_data: String,
    /// Lifetime (and `expires_in`) of issued AWS, Google and Entra credentials; a shorter
    /// lifetime a request asks for wins.
    pub access_token_ttl: Duration,
    /// Role ARNs STS refuses with `AccessDenied`.
    pub denied_roles: Vec<String>,
    /// Service-account emails IAM Credentials refuses with `PERMISSION_DENIED`.
    pub denied_service_accounts: Vec<String>,
    /// Entra client ids whose federated credential matches no subject (`AADSTS700213`).
    pub denied_clients: Vec<String>,
    /// Entra clients that may authenticate with a secret: (client id, secret).
    pub entra_client_secrets: Vec<(String, String)>,
    /// The PKCS#8 PEM of the service-account key whose JWT grants are accepted.
    pub google_sa_key_pem: Option<String>,
    /// That service account's email (a JWT grant's `iss`).
    pub google_sa_email: String,
    /// The AKS server application id (Entra scope `<id>/.default`).
    pub aks_server_id: String,
    /// The Prometheus the AMP stand-in passes verified queries to (`http://host:port`).
    pub prometheus_upstream: Option<String>,
    /// The region AMP requests must be signed for.
    pub amp_region: String,
}

impl Default for CloudConfig {
    fn default() -> Self {
        Self {
            oidc_request_token: "oidc-request-token".into(),
            aws_static: Vec::new(),
            eks_cluster: "canary-gate".into(),
            eks_token_max_age: Duration::from_secs(15 * 60),
            eks_endpoint: String::new(),
            eks_ca_data: String::new(),
            access_token_ttl: Duration::from_secs(3600),
            denied_roles: Vec::new(),
            denied_service_accounts: Vec::new(),
            denied_clients: Vec::new(),
            entra_client_secrets: Vec::new(),
            google_sa_key_pem: None,
            google_sa_email: "canary-gate@standin-project.iam.gserviceaccount.com".into(),
            aks_server_id: "6dae42f8-4368-4678-94ff-3960e28e3630".into(),
            prometheus_upstream: None,
            amp_region: "us-east-1".into(),
        }
    }
}

/// The stand-ins, one listener each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    Oidc,
    Sts,
    Eks,
    GoogleSts,
    GoogleIam,
    GoogleOauth,
    Entra,
    Amp,
}

const SERVICES: [Service; 8] = [
    Service::Oidc,
    Service::Sts,
    Service::Eks,
    Service::GoogleSts,
    Service::GoogleIam,
    Service::GoogleOauth,
    Service::Entra,
    Service::Amp,
];

/// Running stand-ins; every listener stops when the handle is dropped (or [`CloudHandle::stop`]).
pub struct CloudHandle {
    bases: Vec<(Service, String)>,
    cloud: Arc<Cloud>,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn bind() -> Result<(std::net::TcpListener, String), String> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.set_nonblocking(true).map(|_| l))
        .map_err(|e| format!("binding 127.0.0.1:0: {e}"))?;
    let addr = l
        .local_addr()
        .map_err(|e| format!("a listener's address: {e}"))?;
    Ok((l, format!("127.0.0.1:{}", addr.port())))
}

async fn answer(
    service: Service,
    cloud: Arc<Cloud>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<Response, std::io::Error> {
    let req = http::Arrived::read(req).await?;
    cloud.count(|c| {
        let r = &mut c.requests;
        *match service {
            Service::Oidc => &mut r.oidc,
            Service::Sts => &mut r.sts,
            Service::Eks => &mut r.eks,
            Service::GoogleSts => &mut r.google_sts,
            Service::GoogleIam => &mut r.google_iam,
            Service::GoogleOauth => &mut r.google_oauth,
            Service::Entra => &mut r.entra,
            Service::Amp => &mut r.amp,
        } += 1;
    });
    Ok(match service {
        Service::Oidc => github::token(&cloud, &req),
        Service::Sts => sts::serve(&cloud, &req),
        Service::Eks => eks::serve(&cloud, &req),
        Service::GoogleSts => google::sts(&cloud, &req),
        Service::GoogleIam => google::iam(&cloud, &req),
        Service::GoogleOauth => google::oauth(&cloud, &req),
        Service::Entra => entra::token(&cloud, &req),
        Service::Amp => amp::serve(&cloud, &req).await,
    })
}

impl CloudHandle {
    /// Binds one 127.0.0.1 port per stand-in and serves them on a runtime thread of their own.
    pub fn start(config: CloudConfig) -> Result<CloudHandle, String> {
        let mut listeners = Vec::new();
        let mut bases = Vec::new();
        for service in SERVICES {
            let (listener, host) = bind()?;
            listeners.push((service, listener));
            bases.push((service, format!("http://{host}")));
        }
        let host_of = |s: Service| {
            bases
                .iter()
                .find(|(b, _)| *b == s)
                .map(|(_, url)| url.clone())
                .unwrap_or_default()
        };
        let sts_host = host_of(Service::Sts)
            .trim_start_matches("http://")
            .to_string();
        let token_url = format!("{}/token", host_of(Service::GoogleOauth));
        let upstream = match config.prometheus_upstream {
            Some(_) => Some(crate::real::http::Upstream::plain()?.client().clone()),
            None => None,
        };
        let cloud = Arc::new(Cloud::new(config, sts_host, token_url, upstream));
        let (stop, thread) = Self::serve(listeners, cloud.clone())?;
        Ok(CloudHandle {
            bases,
            cloud,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn serve(
        listeners: Vec<(Service, std::net::TcpListener)>,
        cloud: Arc<Cloud>,
    ) -> Result<
        (
            tokio::sync::watch::Sender<bool>,
            std::thread::JoinHandle<()>,
        ),
        String,
    > {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let runtime = crate::runtime("canary-cloud").map_err(|e| e.to_string())?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let thread = std::thread::Builder::new()
            .name("canary-cloud".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let mut tasks = Vec::new();
                    for (service, listener) in listeners {
                        let listener = match tokio::net::TcpListener::from_std(listener) {
                            Ok(l) => l,
                            Err(e) => {
                                let _ = ready_tx.send(Err(e.to_string()));
                                return;
                            }
                        };
                        let c = cloud.clone();
                        tasks.push(tokio::spawn(server::serve(
                            listener,
                            stop_rx.clone(),
                            move |req| answer(service, c.clone(), req),
                        )));
                    }
                    let _ = ready_tx.send(Ok(()));
                    futures::future::join_all(tasks).await;
                });
            })
            .map_err(|e| format!("starting the stand-ins' thread: {e}"))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok((stop_tx, thread)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the stand-ins' thread stopped".into()),
        }
    }

    fn base(&self, service: Service) -> String {
        self.bases
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, url)| url.clone())
            .unwrap_or_default()
    }

    /// The full `ACTIONS_ID_TOKEN_REQUEST_URL`: `http://127.0.0.1:P/token?api-version=2.0`.
    pub fn oidc_url(&self) -> String {
        format!("{}/token?api-version=2.0", self.base(Service::Oidc))
    }

    /// The AWS STS endpoint (`http://127.0.0.1:P`; the Query API is at `/`).
    pub fn sts_url(&self) -> String {
        self.base(Service::Sts)
    }

    /// The EKS API base (`/clusters/<name>`).
    pub fn eks_url(&self) -> String {
        self.base(Service::Eks)
    }

    /// Google STS's base (`/v1/token`), standing in for `https://sts.googleapis.com`.
    pub fn google_sts_url(&self) -> String {
        self.base(Service::GoogleSts)
    }

    /// IAM Credentials' base (`/v1/projects/-/serviceAccounts/<email>:generateAccessToken`),
    /// standing in for `https://iamcredentials.googleapis.com`.
    pub fn google_iam_url(&self) -> String {
        self.base(Service::GoogleIam)
    }

    /// Google OAuth 2.0's base; the token URL (a key file's `token_uri`, a JWT grant's `aud`)
    /// is this + `/token`.
    pub fn google_oauth_url(&self) -> String {
        self.base(Service::GoogleOauth)
    }

    /// The Entra authority host, standing in for `https://login.microsoftonline.com/` (with the
    /// trailing slash, as `AZURE_AUTHORITY_HOST` has it); tokens at `<tenant>/oauth2/v2.0/token`.
    pub fn entra_url(&self) -> String {
        format!("{}/", self.base(Service::Entra))
    }

    /// Amazon Managed Prometheus' base: queries at `/workspaces/<ws>/api/v1/query`.
    pub fn amp_url(&self) -> String {
        self.base(Service::Amp)
    }

    /// A check for `SimConfig::authenticator`: accepts a valid EKS token for the configured
    /// cluster, an unexpired Google access token issued here, and an unexpired Entra token
    /// issued here for `<aks_server_id>/.default`.
    pub fn authenticator(&self) -> Authenticator {
        let cloud = self.cloud.clone();
        Authenticator::new(move |token| {
            let ok = accepts(&cloud, token);
            cloud.count(|c| match ok {
                true => c.bearer_accepted += 1,
                false => c.bearer_rejected += 1,
            });
            ok
        })
    }

    /// Whether the authenticator would accept `token` (without counting it).
    pub fn accepts(&self, token: &str) -> bool {
        accepts(&self.cloud, token)
    }

    /// The counters now.
    pub fn counts(&self) -> CloudCounts {
        self.cloud.counts()
    }

    /// Accepts `token` as a web identity token or client assertion from now on, whatever its
    /// audience (what a test writes to `AWS_WEB_IDENTITY_TOKEN_FILE` or
    /// `AZURE_FEDERATED_TOKEN_FILE`).
    pub fn register_web_identity_token(&self, token: &str) {
        self.cloud.register(token);
    }

    /// Mints a GitHub OIDC token for `audience` directly, as the OIDC endpoint would.
    pub fn issue_oidc_token(&self, audience: &str) -> String {
        self.cloud.issue_oidc(audience)
    }

    /// Stops every listener now (also done on drop).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accepts(cloud: &Cloud, token: &str) -> bool {
    if token.starts_with(EKS_TOKEN_PREFIX) {
        return aws::eks_token(cloud, token).is_ok();
    }
    let aks_scope = format!("{}/.default", cloud.config.aks_server_id);
    cloud.google_valid(token) || cloud.entra_valid(token, &aks_scope)
}

impl Drop for CloudHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}
