//! Resolution: parsed flags + GitHub context + environment -> [`Settings`].
//!
//! Owns reading `GITHUB_*` (with envy, into one struct), resolving relative paths against
//! `GITHUB_WORKSPACE`, and checking input formats (bad ones are exit-2 errors naming the input).
//! Reads the environment only; must not touch files, the network or a cluster.

use crate::cli::{Cli, Command, LogFormat, LogLevel};
use crate::error::Error;
use crate::spec::duration::parse_go_duration;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The GitHub Actions context, from `GITHUB_*` variables (all optional outside Actions).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct GithubContext {
    /// `true` under GitHub Actions.
    pub actions: Option<String>,
    /// The checkout; relative paths in inputs resolve against it.
    pub workspace: Option<PathBuf>,
    /// The commit that triggered the run.
    pub sha: Option<String>,
    /// `owner/repo`.
    pub repository: Option<String>,
    /// `push`, `pull_request`, ...
    pub event_name: Option<String>,
    /// Path of the event payload (the PR head SHA lives there).
    pub event_path: Option<PathBuf>,
    /// REST API base URL.
    pub api_url: Option<String>,
    /// Web base URL.
    pub server_url: Option<String>,
    /// Workflow run id.
    pub run_id: Option<String>,
    /// Run attempt.
    pub run_attempt: Option<String>,
    /// Step outputs file.
    pub output: Option<PathBuf>,
    /// Job summary file.
    pub step_summary: Option<PathBuf>,
    /// Job id.
    pub job: Option<String>,
    /// Workflow name.
    pub workflow: Option<String>,
}

impl GithubContext {
    /// Reads `GITHUB_*` from the process environment.
    pub fn from_env() -> Self {
        Self::from_vars(std::env::vars())
    }

    /// Reads `GITHUB_*` from the given variables (empty values count as unset).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let vars = vars.into_iter().filter(|(_, v)| !v.is_empty());
        envy::prefixed("GITHUB_")
            .from_iter(vars)
            .unwrap_or_default()
    }

    /// Whether this process runs inside a GitHub Actions job.
    pub fn is_actions(&self) -> bool {
        self.actions.as_deref() == Some("true")
    }

    /// The URL of this workflow run, when known.
    pub fn run_url(&self) -> Option<String> {
        Some(format!(
            "{}/{}/actions/runs/{}",
            self.server_url.as_deref()?,
            self.repository.as_deref()?,
            self.run_id.as_deref()?
        ))
    }
}

/// A value that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A path as the user wrote it and where it is on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputPath {
    /// As written (for messages and annotations).
    pub shown: String,
    /// Resolved against `GITHUB_WORKSPACE` when relative and set.
    pub path: PathBuf,
}

/// Logging settings.
#[derive(Clone, Copy, Debug)]
pub struct LogSettings {
    /// Level.
    pub level: LogLevel,
    /// Format.
    pub format: LogFormat,
}

/// Everything a command needs, resolved and checked.
#[derive(Debug)]
pub struct Settings {
    /// The subcommand.
    pub command: Command,
    /// Spec paths from the `canary` input, one per line.
    pub canary: Vec<InputPath>,
    /// Default namespace.
    pub namespace: Option<String>,
    /// Prometheus address.
    pub metrics_server: Option<url::Url>,
    /// GitHub token.
    pub github_token: Option<Secret>,
    /// Kubeconfig path or content, as given.
    pub kubeconfig: Option<Secret>,
    /// Cloud identity inputs.
    pub cloud: crate::cloud::CloudSettings,
    /// Manifests to apply before the rollout (`apply` input).
    pub apply: Vec<String>,
    /// `CONTAINER=IMAGE` pairs to set on the target first (`image` input).
    pub images: Vec<String>,
    /// Canaries driven at once (`max-parallel` input, default 10).
    pub max_parallel: usize,
    /// Stop the other canaries when one fails (`fail-fast` input).
    pub fail_fast: bool,
    /// Where `step` stops (`until-weight` input).
    pub until_weight: Option<u32>,
    /// Where the JSON report goes, if anywhere.
    pub report: Option<InputPath>,
    /// Overall time limit.
    pub timeout: Option<Duration>,
    /// Logging.
    pub log: LogSettings,
    /// GitHub context.
    pub github: GithubContext,
}

impl Settings {
    /// The log masker, decided once by whether this is a GitHub Actions job.
    pub fn masker(&self) -> crate::report::console::Masker {
        crate::report::console::Masker {
            actions: self.github.is_actions(),
        }
    }

    /// Resolves parsed flags against the GitHub context.
    pub fn resolve(cli: Cli, github: GithubContext) -> Result<Settings, Error> {
        let Some(command) = cli.command else {
            return Err(Error::Invalid("no command given".into()));
        };
        let inputs = cli.inputs;
        let cloud = cloud_inputs(cli.cloud)?;
        let workspace = github.workspace.clone();
        let resolve = |shown: &str| resolve_path(shown, workspace.as_deref());
        let canary = inputs
            .canary
            .as_deref()
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(resolve)
            .collect();
        let metrics_server = metrics_server_input(inputs.metrics_server)?;
        let timeout = timeout_input(inputs.timeout)?;
        let level = log_level(inputs.log_level, cli.global.verbose);
        let kubeconfig = inputs
            .kubeconfig
            .map(|k| k.to_string_lossy().into_owned())
            .filter(|k| !k.trim().is_empty())
            .map(Secret);
        let images = images_input(inputs.image)?;
        let until_weight = until_weight_input(inputs.until_weight)?;
        let max_parallel = max_parallel_input(inputs.max_parallel)?;
        let fail_fast = fail_fast_input(inputs.fail_fast)?;
        let report = match non_empty(inputs.report) {
            Some(r) => Some(resolve(&r)),
            None if github.is_actions() => Some(resolve("canary-gate-report.json")),
            None => None,
        };
        Ok(Settings {
            command,
            apply: trimmed_list(inputs.apply),
            images,
            until_weight,
            max_parallel,
            fail_fast,
            report,
            canary,
            namespace: non_empty(inputs.namespace),
            metrics_server,
            github_token: non_empty(inputs.github_token).map(Secret),
            kubeconfig,
            cloud,
            timeout,
            log: LogSettings {
                level,
                format: cli.global.log_format,
            },
            github,
        })
    }

    /// Resolves a path the user wrote (a positional argument, say) like an input path.
    pub fn input_path(&self, shown: &str) -> InputPath {
        resolve_path(shown, self.github.workspace.as_deref())
    }
}

/// Trims every entry of a multi-value input and drops the empty ones.
fn trimmed_list(v: Vec<String>) -> Vec<String> {
    v.iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Parses the `metrics-server` input as an http(s) URL, if set.
fn metrics_server_input(v: Option<String>) -> Result<Option<url::Url>, Error> {
    match non_empty(v) {
        None => Ok(None),
        Some(s) => Ok(Some(parse_http_url(&s).map_err(|why| {
            Error::Invalid(format!("input metrics-server: {s:?} {why}"))
        })?)),
    }
}

/// Parses the `timeout` input as a positive Go-style duration, if set.
fn timeout_input(v: Option<String>) -> Result<Option<Duration>, Error> {
    match non_empty(v) {
        None => Ok(None),
        Some(t) => match parse_go_duration(&t) {
            Some(d) if !d.is_zero() => Ok(Some(d)),
            _ => Err(Error::Invalid(format!(
                "input timeout: {t:?} is not a positive duration (e.g. 30m, 1h30m)"
            ))),
        },
    }
}

/// Picks the log level: `-v` and `-vv` override the `log-level` input, which defaults to info.
fn log_level(input: Option<LogLevel>, verbose: u8) -> LogLevel {
    match (input, verbose) {
        (_, v) if v >= 2 => LogLevel::Trace,
        (_, 1) => LogLevel::Debug,
        (Some(l), _) => l,
        (None, _) => LogLevel::Info,
    }
}

/// Trims the `image` input and checks that every entry is a `CONTAINER=IMAGE` pair.
fn images_input(v: Vec<String>) -> Result<Vec<String>, Error> {
    let images = trimmed_list(v);
    for i in &images {
        if i.split_once('=')
            .is_none_or(|(c, img)| c.is_empty() || img.is_empty())
        {
            return Err(Error::Invalid(format!(
                "input image: {i:?} is not CONTAINER=IMAGE"
            )));
        }
    }
    Ok(images)
}

/// Parses the `until-weight` input as a weight from 0 to 100 (a trailing `%` allowed), if set.
fn until_weight_input(v: Option<String>) -> Result<Option<u32>, Error> {
    match non_empty(v) {
        None => Ok(None),
        Some(w) => match w.trim_end_matches('%').parse::<u32>() {
            Ok(n) if n <= 100 => Ok(Some(n)),
            _ => Err(Error::Invalid(format!(
                "input until-weight: {w:?} is not a weight from 0 to 100"
            ))),
        },
    }
}

/// Parses the `max-parallel` input as a positive number, defaulting to 10.
fn max_parallel_input(v: Option<String>) -> Result<usize, Error> {
    match non_empty(v) {
        None => Ok(10),
        Some(n) => match n.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(Error::Invalid(format!(
                "input max-parallel: {n:?} is not a positive number"
            ))),
        },
    }
}

/// Parses the `fail-fast` input as `true` or `false` (any case), defaulting to false.
fn fail_fast_input(v: Option<String>) -> Result<bool, Error> {
    match non_empty(v).map(|v| v.to_lowercase()) {
        None => Ok(false),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(v) => Err(Error::Invalid(format!(
            "input fail-fast: {v:?} is not true or false"
        ))),
    }
}

/// The cloud identity inputs, trimmed.
fn cloud_inputs(c: crate::cli::CloudInputs) -> Result<crate::cloud::CloudSettings, Error> {
    use crate::spec::model::MetricsAuth;
    let metrics_auth = match non_empty(c.metrics_auth) {
        None => None,
        Some(v) => Some(MetricsAuth::parse(&v).ok_or_else(|| {
            Error::Invalid(format!(
                "input metrics-auth: {v:?} is not one of {}",
                MetricsAuth::VALUES
            ))
        })?),
    };
    Ok(crate::cloud::CloudSettings {
        prefer_plugin: c.cloud_auth == Some(crate::cli::CloudAuth::Plugin),
        aws_role_arn: non_empty(c.aws_role_arn),
        aws_region: non_empty(c.aws_region),
        eks_cluster: non_empty(c.eks_cluster),
        gcp_workload_identity_provider: non_empty(c.gcp_workload_identity_provider),
        gcp_service_account: non_empty(c.gcp_service_account),
        azure_client_id: non_empty(c.azure_client_id),
        azure_tenant_id: non_empty(c.azure_tenant_id),
        metrics_auth,
    })
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn resolve_path(shown: &str, workspace: Option<&Path>) -> InputPath {
    let p = Path::new(shown);
    let path = match workspace {
        Some(ws) if p.is_relative() && shown != "-" => ws.join(p),
        _ => p.to_path_buf(),
    };
    InputPath {
        shown: shown.to_string(),
        path,
    }
}

fn parse_http_url(s: &str) -> Result<url::Url, String> {
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(u),
        Ok(u) => Err(format!("is not an http(s) URL (scheme {:?})", u.scheme())),
        Err(e) => Err(format!("is not a URL: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn github_context_from_env() {
        let gh = GithubContext::from_vars(vars(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_WORKSPACE", "/github/workspace"),
            ("GITHUB_STEP_SUMMARY", "/github/file_commands/summary"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_RUN_ID", "42"),
            ("GITHUB_SHA", ""),
            ("HOME", "/root"),
        ]));
        assert!(gh.is_actions());
        assert_eq!(gh.workspace, Some(PathBuf::from("/github/workspace")));
        assert_eq!(
            gh.step_summary,
            Some(PathBuf::from("/github/file_commands/summary"))
        );
        assert_eq!(gh.sha, None);
        assert_eq!(
            gh.run_url().as_deref(),
            Some("https://github.com/o/r/actions/runs/42")
        );
    }

    #[test]
    fn relative_paths_resolve_against_the_workspace() {
        let ws = Path::new("/github/workspace");
        assert_eq!(
            resolve_path("deploy/c.yaml", Some(ws)).path,
            PathBuf::from("/github/workspace/deploy/c.yaml")
        );
        assert_eq!(
            resolve_path("/abs.yaml", Some(ws)).path,
            PathBuf::from("/abs.yaml")
        );
        assert_eq!(resolve_path("c.yaml", None).path, PathBuf::from("c.yaml"));
        assert_eq!(resolve_path("-", Some(ws)).path, PathBuf::from("-"));
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Secret("ghp_x".into())), "Secret(***)");
    }
}
