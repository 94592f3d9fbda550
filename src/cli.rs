//! The command line: subcommands and flags (clap derive). No I/O, no resolution.
//!
//! Every action input is also a global flag of the same name whose `env` is the runner's
//! `INPUT_<NAME>` (upper-cased, hyphens kept), so the CLI and the action are one interface.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;

/// Progressive delivery for Kubernetes, driven from the CI job: Flagger-compatible canaries
/// without a controller.
#[derive(Debug, Parser)]
#[command(
    name = "canary-gate",
    version,
    disable_help_subcommand = true,
    max_term_width = 100
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Action inputs (each also read from INPUT_<NAME>).
    #[command(flatten)]
    pub inputs: Inputs,
    /// Cloud identity inputs.
    #[command(flatten)]
    pub cloud: CloudInputs,
    /// Output and logging.
    #[command(flatten)]
    pub global: Global,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check Canary specs offline: every error with file:line:col and field path; exit 2 if any.
    Validate(ValidateArgs),
    /// Take over the target: create its -primary copy (Deployment, DaemonSet or Service) and the
    /// Services, point the apex Service at the primary, take the target out of service, create
    /// the route objects (canary Ingress, HTTPRoute). Idempotent.
    Init(InitArgs),
    /// Drive the canary to the end: init if needed, optionally set new images, then tick every
    /// interval until Succeeded (exit 0) or Failed (exit 1).
    Run(RunArgs),
    /// One tick (or ticks until --until-weight or a gate), then exit: 0 progressed, 4 waiting for
    /// a gate, 1 failed.
    Step(StepArgs),
    /// Skip the rest of the analysis and promote (as an open confirm-promotion gate would).
    Promote(InitArgs),
    /// Route everything to the primary, scale the canary to zero, phase Failed.
    Rollback(InitArgs),
    /// Show the phase, weight and checks: exit 0, 4 waiting for a gate, 1 failed.
    Status(StatusArgs),
    /// Show what `run` would do, writing nothing: objects to create or change as diffs, the
    /// weight schedule with its timings, the rendered metric queries and the webhooks.
    Plan(PlanArgs),
    /// The whole product with no cluster: a simulated cluster, a sample app, a healthy release
    /// promoted and a faulty one rolled back.
    #[cfg(feature = "demo")]
    Demo,
}

/// `canary-gate run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Cluster options.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `canary-gate plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Cluster options (the cluster is only read, and only when reachable).
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `canary-gate step`.
#[derive(Debug, Args)]
pub struct StepArgs {
    /// Cluster options.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `canary-gate status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Cluster options.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// Poll until the rollout ends or waits for a gate.
    #[arg(long)]
    pub watch: bool,
}

impl Command {
    /// The names accepted in the `command` input.
    pub const NAMES: &'static [&'static str] = &[
        "validate", "init", "run", "step", "promote", "rollback", "status", "plan",
    ];
}

/// `canary-gate init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Cluster options.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Options of every command that talks to the cluster (Flagger's controller flags, same defaults).
#[derive(Debug, Args, Clone)]
pub struct ClusterArgs {
    /// Kubeconfig context (default: the current context).
    #[arg(long)]
    pub context: Option<String>,
    /// How long to wait for another job that holds the canary's lock.
    #[arg(long = "lock-timeout", default_value = "5m", value_name = "DURATION")]
    pub lock_timeout: String,
    /// Selector label keys, in order of preference.
    #[arg(
        long = "selector-labels",
        default_value = "app,name,app.kubernetes.io/name",
        value_name = "KEYS"
    )]
    pub selector_labels: String,
    /// Label key prefixes copied from the target to the primary ("*": all; empty: none).
    #[arg(
        long = "include-label-prefix",
        default_value = "",
        value_name = "PREFIXES"
    )]
    pub include_label_prefix: String,
    /// Annotation prefix of the NGINX ingress controller.
    #[arg(
        long = "ingress-annotations-prefix",
        default_value = "nginx.ingress.kubernetes.io",
        value_name = "PREFIX"
    )]
    pub ingress_annotations_prefix: String,
    /// Copy referenced ConfigMaps and Secrets to -primary and point the primary at them.
    #[arg(long = "enable-config-tracking", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub enable_config_tracking: bool,
}

/// `canary-gate validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Spec files or directories (`-` reads standard input); default: the `canary` input.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Read directories recursively (like kubectl -R).
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line per finding and per canary.
    Text,
    /// One JSON document on standard output.
    Json,
}

/// Log line formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// Log levels (`log-level` input).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// Progress (default).
    Info,
    /// Details of every request.
    Debug,
    /// Everything.
    Trace,
}

/// The action's inputs.
#[derive(Debug, Args)]
pub struct Inputs {
    /// Subcommand to run when none is given on the command line (how the action runs).
    #[arg(
        long,
        env = "INPUT_COMMAND",
        value_name = "COMMAND",
        hide_env_values = true
    )]
    pub command: Option<String>,
    /// Canary spec file(s) or directory; one per line. Relative paths resolve against
    /// GITHUB_WORKSPACE when it is set.
    #[arg(long, global = true, env = "INPUT_CANARY", value_name = "PATHS")]
    pub canary: Option<String>,
    /// Kubeconfig: a file path, or its content (raw YAML or base64). Never printed.
    #[arg(
        long,
        global = true,
        env = "INPUT_KUBECONFIG",
        value_name = "PATH|CONTENT",
        hide_env_values = true
    )]
    pub kubeconfig: Option<OsString>,
    /// Namespace of canaries whose spec does not set one.
    #[arg(long, global = true, env = "INPUT_NAMESPACE")]
    pub namespace: Option<String>,
    /// Prometheus address for built-in and inline-query metrics (overrides nothing the spec sets).
    #[arg(
        long = "metrics-server",
        global = true,
        env = "INPUT_METRICS-SERVER",
        value_name = "URL"
    )]
    pub metrics_server: Option<String>,
    /// Token for the GitHub API (check runs). Never printed.
    #[arg(
        long = "github-token",
        global = true,
        env = "INPUT_GITHUB-TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub github_token: Option<String>,
    /// `run`, `step`, `plan`: apply these manifests first (server-side apply, like `kubectl apply
    /// --server-side`; Flagger documents are skipped): files or directories, one per line or
    /// repeated.
    #[arg(
        long,
        global = true,
        env = "INPUT_APPLY",
        value_name = "FILES",
        value_delimiter = '\n'
    )]
    pub apply: Vec<String>,
    /// `run`, `step`, `plan`: set a container's image on the target first, like `kubectl set image`:
    /// CONTAINER=IMAGE, one per line or repeated.
    #[arg(
        long,
        global = true,
        env = "INPUT_IMAGE",
        value_name = "CONTAINER=IMAGE",
        value_delimiter = '\n'
    )]
    pub image: Vec<String>,
    /// `step`: keep ticking (every interval) until the canary weight reaches this, a gate holds
    /// or the rollout ends.
    #[arg(
        long = "until-weight",
        global = true,
        env = "INPUT_UNTIL-WEIGHT",
        value_name = "PERCENT"
    )]
    pub until_weight: Option<String>,
    /// `run`, `step`, `promote`, `rollback`, `status`: how many canaries to drive at once when
    /// the specs hold several (each has its own lock, state and check run).
    #[arg(
        long = "max-parallel",
        global = true,
        env = "INPUT_MAX-PARALLEL",
        value_name = "N"
    )]
    pub max_parallel: Option<String>,
    /// With several canaries: when one fails, roll the running ones back to their primaries and
    /// skip those not started (default: the others carry on).
    #[arg(
        long = "fail-fast",
        global = true,
        env = "INPUT_FAIL-FAST",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub fail_fast: Option<String>,
    /// Write a JSON report of the run here (under GitHub Actions the default is
    /// `canary-gate-report.json` in the workspace; its path is the `report` output).
    #[arg(long, global = true, env = "INPUT_REPORT", value_name = "PATH")]
    pub report: Option<String>,
    /// Longest time a command may run, e.g. 30m or 1h30m.
    #[arg(long, global = true, env = "INPUT_TIMEOUT", value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Log level.
    #[arg(
        long = "log-level",
        global = true,
        env = "INPUT_LOG-LEVEL",
        value_enum,
        ignore_case = true
    )]
    pub log_level: Option<LogLevel>,
}

/// How to reach managed clusters and metrics with a cloud identity (EKS, GKE, AKS), in process.
#[derive(Debug, Args)]
pub struct CloudInputs {
    /// A kubeconfig exec plugin canary-gate knows (aws eks get-token, aws-iam-authenticator,
    /// gke-gcloud-auth-plugin, kubelogin): `native` serves it in process (the default), `plugin`
    /// runs it when it is on PATH.
    #[arg(
        long = "cloud-auth",
        global = true,
        env = "INPUT_CLOUD-AUTH",
        value_enum,
        ignore_case = true
    )]
    pub cloud_auth: Option<CloudAuth>,
    /// AWS role to assume with the job's OIDC token (needs `permissions: id-token: write`).
    #[arg(
        long = "aws-role-arn",
        global = true,
        env = "INPUT_AWS-ROLE-ARN",
        value_name = "ARN"
    )]
    pub aws_role_arn: Option<String>,
    /// AWS region (default: AWS_REGION, AWS_DEFAULT_REGION).
    #[arg(
        long = "aws-region",
        global = true,
        env = "INPUT_AWS-REGION",
        value_name = "REGION"
    )]
    pub aws_region: Option<String>,
    /// EKS cluster to reach without a kubeconfig: its endpoint and CA from DescribeCluster.
    #[arg(
        long = "eks-cluster",
        global = true,
        env = "INPUT_EKS-CLUSTER",
        value_name = "NAME"
    )]
    pub eks_cluster: Option<String>,
    /// Google workload identity provider the job's OIDC token is exchanged with
    /// (projects/N/locations/global/workloadIdentityPools/POOL/providers/PROVIDER).
    #[arg(
        long = "gcp-workload-identity-provider",
        global = true,
        env = "INPUT_GCP-WORKLOAD-IDENTITY-PROVIDER",
        value_name = "NAME"
    )]
    pub gcp_workload_identity_provider: Option<String>,
    /// Google service account to impersonate with it.
    #[arg(
        long = "gcp-service-account",
        global = true,
        env = "INPUT_GCP-SERVICE-ACCOUNT",
        value_name = "EMAIL"
    )]
    pub gcp_service_account: Option<String>,
    /// Microsoft Entra application (client) id of the federated credential (default:
    /// AZURE_CLIENT_ID).
    #[arg(
        long = "azure-client-id",
        global = true,
        env = "INPUT_AZURE-CLIENT-ID",
        value_name = "ID"
    )]
    pub azure_client_id: Option<String>,
    /// Microsoft Entra tenant id (default: the kubeconfig's, AZURE_TENANT_ID).
    #[arg(
        long = "azure-tenant-id",
        global = true,
        env = "INPUT_AZURE-TENANT-ID",
        value_name = "ID"
    )]
    pub azure_tenant_id: Option<String>,
    /// How metric queries authenticate to a managed Prometheus when their MetricTemplate does not
    /// say (canary-gate.dev/metrics-auth): none, aws-sigv4, google or azure (default: as the
    /// address's host implies).
    #[arg(
        long = "metrics-auth",
        global = true,
        env = "INPUT_METRICS-AUTH",
        value_name = "KIND"
    )]
    pub metrics_auth: Option<String>,
}

/// Who serves a recognised kubeconfig exec plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CloudAuth {
    /// canary-gate, in process.
    Native,
    /// The plugin itself when it is on PATH (canary-gate otherwise).
    Plugin,
}

/// Output and logging flags.
#[derive(Debug, Args)]
pub struct Global {
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log line format.
    #[arg(long = "log-format", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Parses `args`. With no subcommand, the `command` input (`INPUT_COMMAND`) names it; with neither
/// the usage is printed and the process exits 2.
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = Cli::try_parse_from(&args)?;
    if cli.command.is_some() {
        return Ok(cli);
    }
    use clap::CommandFactory;
    let name = cli
        .inputs
        .command
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let Some(name) = name else {
        let mut cmd = Cli::command();
        let usage = cmd.render_help();
        return Err(clap::Error::raw(
            clap::error::ErrorKind::MissingSubcommand,
            format!(
                "no command given (pass one, or set the `command` input / INPUT_COMMAND)\n\n{usage}"
            ),
        ));
    };
    if !Command::NAMES.contains(&name) {
        return Err(clap::Error::raw(
            clap::error::ErrorKind::InvalidSubcommand,
            format!(
                "unknown command {name:?} in the `command` input (INPUT_COMMAND); this build has: {}\n",
                Command::NAMES.join(", ")
            ),
        ));
    }
    let mut with_command = args;
    with_command.push(name.into());
    Cli::try_parse_from(with_command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn subcommand_and_flags() {
        let cli = parse_from([
            "canary-gate",
            "validate",
            "--format",
            "json",
            "a.yaml",
            "-R",
        ])
        .unwrap();
        match cli.command {
            Some(Command::Validate(v)) => {
                assert_eq!(v.format, Format::Json);
                assert!(v.recursive);
                assert_eq!(v.paths, vec![PathBuf::from("a.yaml")]);
            }
            other => panic!("not validate: {other:?}"),
        }
    }

    #[test]
    fn init_takes_flaggers_controller_flags_with_their_defaults() {
        let cli = parse_from([
            "canary-gate",
            "init",
            "--include-label-prefix",
            "app.kubernetes.io",
        ])
        .unwrap();
        let Some(Command::Init(i)) = cli.command else {
            panic!("not init")
        };
        assert_eq!(i.cluster.selector_labels, "app,name,app.kubernetes.io/name");
        assert_eq!(i.cluster.include_label_prefix, "app.kubernetes.io");
        assert_eq!(
            i.cluster.ingress_annotations_prefix,
            "nginx.ingress.kubernetes.io"
        );
        assert!(i.cluster.enable_config_tracking);
        let off = parse_from(["canary-gate", "init", "--enable-config-tracking", "false"]).unwrap();
        let Some(Command::Init(i)) = off.command else {
            panic!("not init")
        };
        assert!(!i.cluster.enable_config_tracking);
    }

    #[test]
    fn unknown_command_input_is_a_usage_error() {
        let err = parse_from(["canary-gate", "--command", "deploy"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string().contains("unknown command \"deploy\""),
            "{err}"
        );
    }
}
