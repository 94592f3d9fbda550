//! A real control plane on loopback: etcd, kube-apiserver (TLS, a static admin token, RBAC, a
//! ServiceAccount issuer and key) and kube-controller-manager (deployment, replicaset, daemonset,
//! garbage collector, namespace and serviceaccount controllers), started from the binaries
//! `testenv/kube/build` makes, with the Gateway API, Flagger, Istio (VirtualService,
//! DestinationRule), SMI (TrafficSplit), Contour (HTTPProxy) and Traefik (TraefikService,
//! IngressRoute), APISIX (ApisixRoute), Gloo (Upstream, RouteTable), Knative (Service,
//! Revision) and Kuma (TrafficRoute) CRDs installed and one Node (no kubelet) for DaemonSets. Stops every process and
//! removes its directory on drop. Must not serve traffic or mark pods ready (the front does).

use super::binaries;
use super::http::{Upstream, wait_until};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long each component gets to become healthy (apiservers are slow on a busy 2-core box).
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// Port collisions ("address already in use") are retried with new ports this many times.
const ATTEMPTS: u32 = 3;
/// The CRD sets under the components' `crds/` (see `testenv/kube/crds`), installed in order.
const CRD_SETS: [&str; 10] = [
    "gateway-api",
    "flagger",
    "istio",
    "smi",
    "contour",
    "traefik",
    "apisix",
    "gloo",
    "knative",
    "kuma",
];
/// The controllers a cluster needs for what the tests do.
const CONTROLLERS: &str = "deployment-controller,replicaset-controller,daemonset-controller,garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller";

/// A running control plane.
pub struct RealCluster {
    /// `https://127.0.0.1:<port>` of kube-apiserver.
    pub api_url: String,
    /// The admin kubeconfig (token, CA), straight to the apiserver.
    pub kubeconfig: PathBuf,
    /// The admin bearer token.
    pub token: String,
    /// PEM of the apiserver's self-signed serving certificate and its CA (the CA bundle clients
    /// trust) and of its key: the proxy in front serves with the same pair.
    pub cert_pem: Vec<u8>,
    /// PEM of the serving key.
    pub key_pem: Vec<u8>,
    dir: PathBuf,
    children: Vec<(&'static str, Child)>,
}

/// A free loopback port (bound, then released: a race another process may win, hence retries).
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut buf);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    buf.iter()
        .enumerate()
        .map(|(i, b)| format!("{:02x}", b ^ (nanos >> (i % 4 * 8)) as u8))
        .collect()
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

impl RealCluster {
    /// Builds (if needed) and starts the control plane; returns once the API is ready, the
    /// default ServiceCIDR exists and the CRDs are established.
    pub fn start() -> Result<RealCluster, String> {
        let components = binaries::components()?;
        let mut last = String::new();
        for _ in 0..ATTEMPTS {
            let dir = std::env::temp_dir().join(format!("canary-kube-{}", random_hex(6)));
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("creating {}: {e}", dir.display()))?;
            let mut cluster = RealCluster {
                api_url: String::new(),
                kubeconfig: dir.join("admin.kubeconfig"),
                token: random_hex(16),
                cert_pem: Vec::new(),
                key_pem: Vec::new(),
                dir,
                children: Vec::new(),
            };
            match cluster.boot(&components) {
                Ok(()) => return Ok(cluster),
                Err(e) if e.contains("address already in use") => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    fn boot(&mut self, components: &Path) -> Result<(), String> {
        let bin = components.join("bin");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("starting a runtime: {e}"))?;
        self.credentials()?;
        let etcd = self.etcd(&bin)?;
        runtime.block_on(self.wait_etcd(&etcd))?;
        let api_port = free_port()?;
        self.apiserver(&bin, &etcd, api_port)?;
        self.api_url = format!("https://127.0.0.1:{api_port}");
        runtime.block_on(self.wait_apiserver())?;
        std::fs::write(&self.kubeconfig, self.kubeconfig_yaml(&self.api_url))
            .map_err(|e| format!("writing {}: {e}", self.kubeconfig.display()))?;
        let kcm_port = free_port()?;
        self.controller_manager(&bin, kcm_port)?;
        runtime.block_on(self.wait_component(
            "kube-controller-manager",
            &format!("https://127.0.0.1:{kcm_port}/healthz"),
        ))?;
        self.install_crds(&bin, &components.join("crds"))
    }

    fn credentials(&self) -> Result<(), String> {
        let key = self.dir.join("sa.key");
        let out = Command::new("openssl")
            .args([
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
            ])
            .arg(&key)
            .output()
            .map_err(|e| format!("running openssl (needed for the ServiceAccount key): {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "openssl ecparam failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        std::fs::write(
            self.dir.join("tokens.csv"),
            format!("{},admin,admin,system:masters\n", self.token),
        )
        .map_err(|e| format!("writing the token file: {e}"))
    }

    fn spawn(&mut self, name: &'static str, program: &Path, args: &[String]) -> Result<(), String> {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log")))
            .map_err(|e| format!("creating {name}.log: {e}"))?;
        let err = log
            .try_clone()
            .map_err(|e| format!("creating {name}.log: {e}"))?;
        let child = Command::new(program)
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", program.display()))?;
        self.children.push((name, child));
        Ok(())
    }

    /// Fails with the component's last log lines when it has exited.
    fn check_alive(&mut self, name: &str) -> Result<(), String> {
        let Some((_, child)) = self.children.iter_mut().find(|(n, _)| *n == name) else {
            return Ok(());
        };
        match child.try_wait() {
            Ok(Some(status)) => Err(format!(
                "{name} exited ({status}):\n{}",
                tail(&self.dir.join(format!("{name}.log")))
            )),
            _ => Ok(()),
        }
    }

    fn etcd(&mut self, bin: &Path) -> Result<String, String> {
        let (client, peer) = (free_port()?, free_port()?);
        let url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let args = [
            format!("--data-dir={}", self.dir.join("etcd").display()),
            format!("--listen-client-urls={url}"),
            format!("--advertise-client-urls={url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=default={peer_url}"),
            "--unsafe-no-fsync".into(),
            "--log-level=warn".into(),
        ];
        self.spawn("etcd", &bin.join("etcd"), &args)?;
        Ok(url)
    }

    async fn wait_etcd(&mut self, url: &str) -> Result<(), String> {
        let plain = Upstream::plain()?;
        let health = format!("{url}/health");
        wait_until(START_TIMEOUT, || {
            let plain = &plain;
            let health = &health;
            async move { plain.status(health).await == Some(200) }
        })
        .await;
        self.check_alive("etcd")?;
        match plain.status(&health).await {
            Some(200) => Ok(()),
            other => Err(format!("etcd at {url} is not healthy ({other:?})")),
        }
    }

    fn apiserver(&mut self, bin: &Path, etcd: &str, port: u16) -> Result<(), String> {
        let d = &self.dir;
        let key = d.join("sa.key").display().to_string();
        let args = [
            format!("--etcd-servers={etcd}"),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", d.join("pki").display()),
            "--service-cluster-ip-range=10.0.0.0/24".into(),
            "--allow-privileged=true".into(),
            "--service-account-issuer=https://kubernetes.default.svc".into(),
            format!("--service-account-key-file={key}"),
            format!("--service-account-signing-key-file={key}"),
            format!("--token-auth-file={}", d.join("tokens.csv").display()),
            "--authorization-mode=RBAC".into(),
            // Pods need no ServiceAccount (no kubelet mounts one), as in envtest.
            "--disable-admission-plugins=ServiceAccount".into(),
            "--endpoint-reconciler-type=none".into(),
        ];
        self.spawn("kube-apiserver", &bin.join("kube-apiserver"), &args)
    }

    async fn wait_apiserver(&mut self) -> Result<(), String> {
        let cert = self.dir.join("pki/apiserver.crt");
        let found = wait_until(START_TIMEOUT, || {
            let cert = cert.clone();
            async move { cert.is_file() }
        })
        .await;
        self.check_alive("kube-apiserver")?;
        if !found {
            return Err("kube-apiserver wrote no serving certificate".into());
        }
        self.cert_pem =
            std::fs::read(&cert).map_err(|e| format!("reading {}: {e}", cert.display()))?;
        let key = self.dir.join("pki/apiserver.key");
        self.key_pem =
            std::fs::read(&key).map_err(|e| format!("reading {}: {e}", key.display()))?;
        let api = Upstream::new(&self.api_url, &self.cert_pem, Some(&self.token))?;
        // Ready, and what a first client needs: the default namespace and ServiceCIDR.
        let paths = [
            "/readyz",
            "/api/v1/namespaces/default",
            "/apis/networking.k8s.io/v1/servicecidrs/kubernetes",
        ];
        for path in paths {
            let api = &api;
            let ok = wait_until(START_TIMEOUT, || async move {
                api.status(&api.url(path)).await == Some(200)
            })
            .await;
            self.check_alive("kube-apiserver")?;
            if !ok {
                return Err(format!(
                    "kube-apiserver at {} never answered 200 on {path}:\n{}",
                    self.api_url,
                    tail(&self.dir.join("kube-apiserver.log"))
                ));
            }
        }
        Ok(())
    }

    fn controller_manager(&mut self, bin: &Path, port: u16) -> Result<(), String> {
        let d = &self.dir;
        let args = [
            format!("--kubeconfig={}", self.kubeconfig.display()),
            "--leader-elect=false".into(),
            format!("--controllers={CONTROLLERS}"),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", d.join("kcm-pki").display()),
            "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics".into(),
            format!(
                "--service-account-private-key-file={}",
                d.join("sa.key").display()
            ),
            format!("--root-ca-file={}", d.join("pki/apiserver.crt").display()),
            "--kube-api-qps=200".into(),
            "--kube-api-burst=400".into(),
            // Deployments converge quickly: resync and ReplicaSet pod creation without backoff.
            "--concurrent-deployment-syncs=5".into(),
            "--concurrent-replicaset-syncs=5".into(),
        ];
        self.spawn(
            "kube-controller-manager",
            &bin.join("kube-controller-manager"),
            &args,
        )
    }

    async fn wait_component(&mut self, name: &str, url: &str) -> Result<(), String> {
        let insecure = Upstream::insecure()?;
        let ok = wait_until(START_TIMEOUT, || {
            let insecure = &insecure;
            async move { insecure.status(url).await == Some(200) }
        })
        .await;
        self.check_alive(name)?;
        match ok {
            true => Ok(()),
            false => Err(format!(
                "{name} never became healthy at {url}:\n{}",
                tail(&self.dir.join(format!("{name}.log")))
            )),
        }
    }

    fn install_crds(&self, bin: &Path, crds: &Path) -> Result<(), String> {
        let kubectl = |args: &[&str]| -> Result<(), String> {
            let out = Command::new(bin.join("kubectl"))
                .arg("--kubeconfig")
                .arg(&self.kubeconfig)
                .args(args)
                .output()
                .map_err(|e| format!("running kubectl: {e}"))?;
            match out.status.success() {
                true => Ok(()),
                false => Err(format!(
                    "kubectl {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
            }
        };
        for set in CRD_SETS {
            let dir = crds.join(set).display().to_string();
            kubectl(&["apply", "--server-side", "-f", &dir])?;
            kubectl(&[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "-f",
                &dir,
            ])?;
        }
        // One Node, labelled as the simulator's, for the DaemonSet controller to schedule on
        // (no kubelet runs: the front marks the pods ready).
        let labels: String = crate::controller::NODE_LABELS
            .iter()
            .map(|(k, v)| format!("    {k}: {v}\n"))
            .collect();
        let node = self.dir.join("node.yaml");
        let text = format!(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: canary-sim\n  labels:\n{labels}"
        );
        std::fs::write(&node, text).map_err(|e| format!("writing {}: {e}", node.display()))?;
        kubectl(&["apply", "-f", &node.display().to_string()])?;
        // Admission taints a new Node not-ready; with no kubelet and no node lifecycle
        // controller nothing would lift it, and DaemonSet pods do not tolerate it.
        kubectl(&[
            "patch",
            "node",
            "canary-sim",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"taints":null}}"#,
        ])?;
        Ok(())
    }

    /// A kubeconfig for `server` with this cluster's CA and admin token.
    pub fn kubeconfig_yaml(&self, server: &str) -> String {
        kubeconfig_yaml(server, &self.cert_pem, &self.token, "default")
    }

    /// The directory holding the logs, keys and etcd data (removed on drop).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the controller manager, the apiserver and etcd (in that order), then removes the
    /// directory. Also done on drop.
    pub fn stop(&mut self) {
        while let Some((_, mut child)) = self.children.pop() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let stopped = (0..100).any(|_| {
                std::thread::sleep(Duration::from_millis(50));
                matches!(child.try_wait(), Ok(Some(_)))
            });
            if !stopped {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for RealCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A kubeconfig for `server`, trusting the PEM `ca`, with a bearer `token` and a namespace.
pub fn kubeconfig_yaml(server: &str, ca: &[u8], token: &str, namespace: &str) -> String {
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: canary-sim\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\ncontexts:\n- name: canary-sim\n  context:\n    cluster: canary-sim\n    user: canary-sim\n    namespace: {namespace}\ncurrent-context: canary-sim\nusers:\n- name: canary-sim\n  user:\n    token: {token}\n"
    )
}
