//! Managed clusters through the binary, with no cloud CLI on PATH: local stand-ins for GitHub's
//! OIDC endpoint, AWS STS and EKS, Google STS, IAM Credentials and OAuth, Microsoft Entra ID and
//! Amazon Managed Service for Prometheus (`canary_gate_sim::cloud`), and a Kubernetes API (the
//! test back end) that accepts only the tokens those stand-ins would: each kubeconfig exec
//! plugin served in process, the OIDC-only `eks-cluster` setup, tokens renewed mid-`run`, each
//! token service's refusal as one line with exit 3, and SigV4-signed metric queries.

use crate::cluster::{Cluster, fast};
use crate::support::{Run, canary_gate, root, run};
use canary_gate_sim::cloud::{CloudConfig, CloudHandle};
use canary_gate_sim::{Authenticator, Sim, SimConfig};
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const AKID: &str = "AKIDSTANDIN0001";
const SECRET: &str = "standin/Secret/Key+0001";
const ROLE: &str = "arn:aws:iam::123456789012:role/deployer";
const DENIED_ROLE: &str = "arn:aws:iam::123456789012:role/denied";
const PROVIDER: &str = "projects/1/locations/global/workloadIdentityPools/github/providers/repo";
const SA: &str = "deployer@standin-project.iam.gserviceaccount.com";
const DENIED_SA: &str = "denied@standin-project.iam.gserviceaccount.com";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const DENIED_CLIENT: &str = "99999999-2222-3333-4444-555555555555";
const TENANT: &str = "72f988bf-0000-0000-0000-000000000001";

/// The test back end requiring the stand-ins' tokens, the stand-ins, and a scratch directory.
struct Env {
    c: Cluster,
    cloud: CloudHandle,
    dir: tempfile::TempDir,
    server: String,
    ca: Option<String>,
}

impl Env {
    /// The cluster with the fixture app, and stand-ins configured by `edit`.
    fn start(edit: impl FnOnce(&mut CloudConfig, &canary_gate_sim::SimHandle)) -> Env {
        // The API needs the stand-ins' check, and DescribeCluster the API's address: the check is
        // handed over once both run.
        let slot: Arc<OnceLock<Authenticator>> = Arc::default();
        let check = slot.clone();
        let sim = Sim::start(SimConfig {
            rps: 50.0,
            authenticator: Some(Authenticator::new(move |t| {
                check.get().is_some_and(|a| a.accepts(t))
            })),
            ..crate::cluster::config(None)
        })
        .expect("the cluster starts");
        let kc: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&sim.kubeconfig).unwrap()).unwrap();
        let server = kc["clusters"][0]["cluster"]["server"]
            .as_str()
            .unwrap()
            .to_string();
        let ca = kc["clusters"][0]["cluster"]["certificate-authority-data"]
            .as_str()
            .map(String::from);
        let mut config = CloudConfig {
            aws_static: vec![(AKID.into(), SECRET.into())],
            eks_endpoint: server.clone(),
            eks_ca_data: ca.clone().unwrap_or_default(),
            denied_roles: vec![DENIED_ROLE.into()],
            denied_service_accounts: vec![DENIED_SA.into()],
            denied_clients: vec![DENIED_CLIENT.into()],
            google_sa_key_pem: Some(
                std::fs::read_to_string(root().join("fixtures/cloud/google-sa-test-key.pem"))
                    .unwrap(),
            ),
            ..CloudConfig::default()
        };
        edit(&mut config, &sim);
        let cloud = CloudHandle::start(config).expect("the stand-ins start");
        assert!(slot.set(cloud.authenticator()).is_ok());
        let c = Cluster { sim };
        c.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "test"}}));
        c.podinfo_with_traffic();
        Env {
            c,
            cloud,
            dir: tempfile::tempdir().unwrap(),
            server,
            ca,
        }
    }

    /// A kubeconfig whose user runs `exec` (command and args), written to the scratch directory.
    fn kubeconfig(&self, command: &str, args: &[&str]) -> String {
        let mut cluster = json!({"server": self.server});
        if let Some(ca) = &self.ca {
            cluster["certificate-authority-data"] = json!(ca);
        }
        let kc = json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "managed", "cluster": cluster}],
            "users": [{"name": "cloud", "user": {"exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": command, "args": args, "interactiveMode": "Never"}}}],
            "contexts": [{"name": "managed", "context": {"cluster": "managed", "user": "cloud", "namespace": "test"}}],
            "current-context": "managed",
        });
        self.write(&format!("kubeconfig-{command}"), &kc.to_string())
    }

    /// The quickest canary for the fixture app, written to the scratch directory.
    fn spec(&self) -> String {
        self.write(
            "fast.yaml",
            &fast("podinfo", &self.c.sim.prometheus_url()).yaml(),
        )
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    /// The binary as a GitHub Actions step with no cloud CLI on PATH (an empty directory is the
    /// whole PATH) and the stand-ins as every endpoint.
    fn cmd(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let empty = self.dir.path().join("empty-path");
        std::fs::create_dir_all(&empty).unwrap();
        let mut cmd = canary_gate();
        cmd.env_clear()
            .env("PATH", &empty)
            .env("HOME", self.dir.path())
            .env("TMPDIR", self.dir.path())
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_RUN_ID", "4242")
            .env("AWS_ENDPOINT_URL_STS", self.cloud.sts_url())
            .env("AWS_ENDPOINT_URL_EKS", self.cloud.eks_url())
            .env("AZURE_AUTHORITY_HOST", self.cloud.entra_url())
            .envs(env.iter().copied())
            .args(args);
        run(&mut cmd)
    }

    /// An `aws eks get-token` kubeconfig and the exported keys it finds.
    fn eks_with_keys(&self) -> (String, [(&'static str, &'static str); 2]) {
        let args = [
            "eks",
            "get-token",
            "--cluster-name",
            "canary-gate",
            "--region",
            "us-east-1",
        ];
        let env = [
            ("AWS_ACCESS_KEY_ID", AKID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ];
        (self.kubeconfig("aws", &args), env)
    }

    /// A kubeconfig as `az aks get-credentials` writes it, converted for the Azure CLI login.
    fn aks_kubeconfig(&self) -> String {
        let args = [
            "get-token",
            "--login",
            "azurecli",
            "--server-id",
            "6dae42f8-4368-4678-94ff-3960e28e3630",
        ];
        self.kubeconfig("kubelogin", &args)
    }

    /// The job's OIDC variables.
    fn oidc(&self) -> [(&'static str, String); 2] {
        [
            ("ACTIONS_ID_TOKEN_REQUEST_URL", self.cloud.oidc_url()),
            (
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                "oidc-request-token".into(),
            ),
        ]
    }

    /// `init` of the fixture canary with this kubeconfig and environment, which must succeed and
    /// create the primary.
    fn init_with(&self, kubeconfig: &str, env: &[(&str, &str)], extra: &[&str]) -> Run {
        let spec = self.spec();
        let mut args = vec!["init", "--canary", &spec, "--kubeconfig", kubeconfig];
        args.extend_from_slice(extra);
        let r = self.cmd(&args, env);
        assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
        assert!(
            self.c
                .find("apps/v1", "Deployment", "podinfo-primary")
                .is_some()
        );
        assert!(
            self.cloud.counts().bearer_accepted > 0,
            "the API saw the cloud token"
        );
        r
    }
}

/// `secrets` appear in the output only in `::add-mask::` commands.
fn masked(r: &Run, secrets: &[&str]) {
    for s in secrets {
        assert!(!r.stdout.contains(s), "stdout shows {s}");
        for line in r.stderr.lines().filter(|l| l.contains(s)) {
            assert!(line.starts_with("::add-mask::"), "stderr shows {s}: {line}");
        }
    }
}

fn pairs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn aws_eks_get_token_is_served_with_the_exported_keys() {
    let e = Env::start(|_, _| {});
    let kc = e.kubeconfig(
        "aws",
        &[
            "--region",
            "us-east-1",
            "eks",
            "get-token",
            "--cluster-name",
            "canary-gate",
        ],
    );
    let r = e.init_with(
        &kc,
        &[
            ("AWS_ACCESS_KEY_ID", AKID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ],
        &[],
    );
    masked(&r, &[SECRET]);
    assert!(r.stderr.contains(&format!("::add-mask::{SECRET}")));
}

#[test]
fn aws_iam_authenticator_assumes_its_role_from_a_web_identity_file() {
    let e = Env::start(|_, _| {});
    let identity = e.cloud.issue_oidc_token("sts.amazonaws.com");
    let file = e.write("web-identity", &identity);
    let kc = e.kubeconfig(
        "aws-iam-authenticator",
        &["token", "-i", "canary-gate", "-r", ROLE],
    );
    let env = [
        ("AWS_WEB_IDENTITY_TOKEN_FILE", file.as_str()),
        ("AWS_ROLE_ARN", ROLE),
        ("AWS_REGION", "us-east-1"),
    ];
    let r = e.init_with(&kc, &env, &[]);
    let issued = e.cloud.counts().issued;
    assert!(
        issued.sts_web_identity >= 1 && issued.sts_assume_role >= 1,
        "{issued:?}"
    );
    masked(&r, &[&identity]);
}

#[test]
fn gke_plugin_reads_the_file_google_github_actions_auth_writes() {
    let e = Env::start(|_, _| {});
    let audience = format!("https://iam.googleapis.com/{PROVIDER}");
    let creds = json!({
        "type": "external_account",
        "audience": format!("//iam.googleapis.com/{PROVIDER}"),
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": format!("{}/v1/token", e.cloud.google_sts_url()),
        "service_account_impersonation_url": format!("{}/v1/projects/-/serviceAccounts/{SA}:generateAccessToken", e.cloud.google_iam_url()),
        "credential_source": {
            "url": format!("{}&audience={audience}", e.cloud.oidc_url()),
            "headers": {"Authorization": "Bearer oidc-request-token"},
            "format": {"type": "json", "subject_token_field_name": "value"},
        },
    });
    let file = e.write("gha-creds-1.json", &creds.to_string());
    let kc = e.kubeconfig("gke-gcloud-auth-plugin", &[]);
    let r = e.init_with(&kc, &[("GOOGLE_APPLICATION_CREDENTIALS", &file)], &[]);
    let issued = e.cloud.counts().issued;
    assert!(
        issued.google_federated >= 1 && issued.google_impersonated >= 1,
        "{issued:?}"
    );
    masked(&r, &["oidc-request-token"]);
}

#[test]
fn gke_plugin_signs_a_jwt_grant_with_a_service_account_key() {
    let e = Env::start(|_, _| {});
    let key =
        std::fs::read_to_string(root().join("fixtures/cloud/google-sa-test-key.pem")).unwrap();
    let creds = json!({
        "type": "service_account", "project_id": "standin-project", "private_key_id": "k1",
        "private_key": key, "client_email": "canary-gate@standin-project.iam.gserviceaccount.com",
        "token_uri": format!("{}/token", e.cloud.google_oauth_url()),
    });
    let file = e.write("sa.json", &creds.to_string());
    let kc = e.kubeconfig("gke-gcloud-auth-plugin", &[]);
    e.init_with(&kc, &[("GOOGLE_APPLICATION_CREDENTIALS", &file)], &[]);
    assert!(e.cloud.counts().issued.google_jwt_grant >= 1);
}

#[test]
fn kubelogin_exchanges_the_jobs_oidc_token_with_entra_id() {
    let e = Env::start(|_, _| {});
    let kc = e.aks_kubeconfig();
    let oidc = e.oidc();
    let r = e.init_with(
        &kc,
        &pairs(&oidc),
        &["--azure-client-id", CLIENT, "--azure-tenant-id", TENANT],
    );
    assert!(e.cloud.counts().issued.entra >= 1);
    masked(&r, &["oidc-request-token"]);
}

#[test]
fn an_eks_cluster_needs_only_the_jobs_oidc_identity() {
    let e = Env::start(|_, _| {});
    let oidc = e.oidc();
    let spec = e.spec();
    let args = [
        "init",
        "--canary",
        &spec,
        "--eks-cluster",
        "canary-gate",
        "--aws-region",
        "us-east-1",
        "--aws-role-arn",
        ROLE,
    ];
    let r = e.cmd(&args, &pairs(&oidc));
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        e.c.find("apps/v1", "Deployment", "podinfo-primary")
            .is_some()
    );
    let counts = e.cloud.counts();
    assert!(
        counts.requests.eks >= 1 && counts.issued.sts_web_identity >= 1,
        "{counts:?}"
    );
}

#[test]
fn each_token_services_refusal_is_one_line_and_exit_3() {
    let e = Env::start(|_, _| {});
    let oidc = e.oidc();
    let with_oidc = pairs(&oidc);
    let spec = e.spec();
    let init = |kc: &str, env: &[(&str, &str)], extra: &[&str]| {
        let mut args = vec!["init", "--canary", &spec, "--kubeconfig", kc];
        args.extend_from_slice(extra);
        e.cmd(&args, env)
    };
    let eks = e.kubeconfig(
        "aws",
        &["eks", "get-token", "--cluster-name", "canary-gate"],
    );
    let denied_sts = init(&eks, &with_oidc, &["--aws-role-arn", DENIED_ROLE]);
    let gke = e.kubeconfig("gke-gcloud-auth-plugin", &[]);
    let gcp_sts = format!(
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_STS={}/",
        e.cloud.google_sts_url()
    );
    let gcp_iam = format!(
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS={}/",
        e.cloud.google_iam_url()
    );
    let mut google_env = with_oidc.clone();
    for kv in [&gcp_sts, &gcp_iam] {
        let (k, v) = kv.split_once('=').unwrap();
        google_env.push((k, v));
    }
    let denied_provider = PROVIDER.replace("providers/repo", "providers/denied");
    let denied_exchange = init(
        &gke,
        &google_env,
        &["--gcp-workload-identity-provider", &denied_provider],
    );
    let denied_sa = init(
        &gke,
        &google_env,
        &[
            "--gcp-workload-identity-provider",
            PROVIDER,
            "--gcp-service-account",
            DENIED_SA,
        ],
    );
    let aks = e.aks_kubeconfig();
    let denied_client = init(
        &aks,
        &with_oidc,
        &[
            "--azure-client-id",
            DENIED_CLIENT,
            "--azure-tenant-id",
            TENANT,
        ],
    );
    let key =
        std::fs::read_to_string(root().join("fixtures/cloud/google-sa-test-key.pem")).unwrap();
    let stranger = json!({"type": "service_account", "private_key": key, "private_key_id": "k1",
        "client_email": "stranger@elsewhere.iam.gserviceaccount.com",
        "token_uri": format!("{}/token", e.cloud.google_oauth_url())});
    let file = e.write("stranger.json", &stranger.to_string());
    let refused_grant = init(&gke, &[("GOOGLE_APPLICATION_CREDENTIALS", &file)], &[]);
    let wrong_request_token = [
        ("ACTIONS_ID_TOKEN_REQUEST_URL", oidc[0].1.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "not-the-runners-token"),
    ];
    let refused_oidc = init(&eks, &wrong_request_token, &["--aws-role-arn", ROLE]);
    for (r, expected) in [
        (&refused_oidc, "EKS token: GitHub OIDC token: the runner answered 401".to_string()),
        (&refused_grant, "GKE token: JWT grant returned invalid_grant for stranger@elsewhere.iam.gserviceaccount.com: Invalid email or User ID".to_string()),
        (&denied_sts, format!("EKS token: AssumeRoleWithWebIdentity returned AccessDenied for role {DENIED_ROLE}")),
        (&denied_exchange, "GKE token: STS token exchange returned unauthorized_client for audience //iam.googleapis.com/".to_string()),
        (&denied_sa, format!("GKE token: generateAccessToken returned PERMISSION_DENIED for service account {DENIED_SA}")),
        (&denied_client, format!("AKS token: Entra ID token returned invalid_client for client {DENIED_CLIENT}: AADSTS700213")),
    ] {
        assert_eq!(r.code, 3, "{expected}\nstdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
        let lines = r.error_lines();
        assert_eq!(lines.len(), 1, "one line: {lines:?}");
        assert!(lines[0].contains(&expected), "{expected:?} in {lines:?}");
    }
    assert!(
        e.c.find("apps/v1", "Deployment", "podinfo-primary")
            .is_none(),
        "nothing written"
    );
}

/// A `run` of a 1 s-interval canary that lasts several seconds: init first, then a release.
fn rollout(e: &Env, kc: &str, env: &[(&str, &str)], spec: &str) -> Run {
    let file = e.write("canary.yaml", spec);
    let init = e.cmd(&["init", "--canary", &file, "--kubeconfig", kc], env);
    assert_eq!(init.code, 0, "init: {}", init.stderr);
    e.c.release("6.7.1", "0");
    e.cmd(&["run", "--canary", &file, "--kubeconfig", kc], env)
}

#[test]
fn an_eks_token_the_api_refuses_mid_run_is_renewed_once() {
    let e = Env::start(|c, _| c.eks_token_max_age = Duration::from_secs(2));
    let (kc, env) = e.eks_with_keys();
    let spec = fast("podinfo", &e.c.sim.prometheus_url()).yaml();
    let r = rollout(&e, &kc, &env, &spec);
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Promotion completed!"), "{}", r.stdout);
    let counts = e.cloud.counts();
    assert!(
        counts.bearer_rejected >= 1,
        "the 2 s token lapsed mid-run: {counts:?}"
    );
}

#[test]
fn a_google_token_is_renewed_before_it_lapses_mid_run() {
    let e = Env::start(|c, _| c.access_token_ttl = Duration::from_secs(3));
    let key =
        std::fs::read_to_string(root().join("fixtures/cloud/google-sa-test-key.pem")).unwrap();
    let creds = json!({"type": "service_account", "private_key": key, "private_key_id": "k1",
        "client_email": "canary-gate@standin-project.iam.gserviceaccount.com",
        "token_uri": format!("{}/token", e.cloud.google_oauth_url())});
    let file = e.write("sa.json", &creds.to_string());
    let kc = e.kubeconfig("gke-gcloud-auth-plugin", &[]);
    let spec = fast("podinfo", &e.c.sim.prometheus_url()).yaml();
    let r = rollout(&e, &kc, &[("GOOGLE_APPLICATION_CREDENTIALS", &file)], &spec);
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let counts = e.cloud.counts();
    assert!(
        counts.issued.google_jwt_grant >= 3,
        "renewed during the run: {counts:?}"
    );
    assert_eq!(
        counts.bearer_rejected, 0,
        "never sent a lapsed token: {counts:?}"
    );
}

/// A MetricTemplate on the Amazon Managed Service for Prometheus stand-in, which checks each
/// query's SigV4 signature before passing it to the simulator's Prometheus.
fn amp_spec(e: &Env) -> String {
    let canary = fast("podinfo", &e.c.sim.prometheus_url())
        .metric("{name: success-via-amp, templateRef: {name: amp-success}, interval: 5s, thresholdRange: {min: 99}}")
        .yaml();
    format!(
        "{canary}---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: amp-success
  namespace: test
  annotations: {{canary-gate.dev/metrics-auth: aws-sigv4}}
spec:
  provider:
    type: prometheus
    address: {}/workspaces/ws-standin
    region: us-east-1
  query: |
    sum(rate(nginx_ingress_controller_requests{{namespace=\"{{{{ namespace }}}}\",ingress=\"{{{{ ingress }}}}\",canary!=\"\",status!~\"5.*\"}}[{{{{ interval }}}}]))
    / sum(rate(nginx_ingress_controller_requests{{namespace=\"{{{{ namespace }}}}\",ingress=\"{{{{ ingress }}}}\",canary!=\"\"}}[{{{{ interval }}}}])) * 100
",
        e.cloud.amp_url()
    )
}

#[test]
fn managed_prometheus_queries_are_sigv4_signed() {
    // The upstream is the simulator's Prometheus API.
    let e = Env::start(|c, sim| c.prometheus_upstream = Some(sim.prometheus_url()));
    let (kc, env) = e.eks_with_keys();
    let r = rollout(&e, &kc, &env, &amp_spec(&e));
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("success-via-amp = 100"), "{}", r.stderr);
    let counts = e.cloud.counts();
    assert!(counts.amp_forwarded >= 1, "{counts:?}");
    assert_eq!(
        counts.amp_forwarded, counts.requests.amp,
        "every query passed the signature check"
    );
}

#[test]
fn a_plugin_on_path_is_served_in_process_unless_the_user_opts_out() {
    let e = Env::start(|_, _| {});
    let bin = e.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let marker = e.dir.path().join("the-plugin-ran");
    let script = format!(
        "#!/bin/sh\necho ran > '{}'\necho '{{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"made-by-the-plugin\"}}}}'\n",
        marker.display()
    );
    let aws = bin.join("aws");
    std::fs::write(&aws, script).unwrap();
    std::fs::set_permissions(&aws, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (kc, keys) = e.eks_with_keys();
    let path = bin.display().to_string();
    let mut env = keys.to_vec();
    env.push(("PATH", &path));
    e.init_with(&kc, &env, &[]);
    assert!(
        !marker.exists(),
        "served in process although the plugin is on PATH"
    );
    let spec = e.spec();
    let args = [
        "init",
        "--canary",
        &spec,
        "--kubeconfig",
        &kc,
        "--cloud-auth",
        "plugin",
    ];
    let r = e.cmd(&args, &env);
    assert!(marker.exists(), "cloud-auth: plugin runs the plugin");
    assert_eq!(
        r.code, 3,
        "its token is not one the API takes: {}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("refused the kubeconfig's credentials (401 Unauthorized)"),
        "{}",
        r.stderr
    );
}
