//! Reading and checking the specs a command was given, shared by every subcommand.

use crate::error::Error;
use crate::report::summary::SharedFiles;
use crate::report::{Event, Report, Reporter, Verdict, console};
use crate::settings::{InputPath, Settings};
use crate::spec::{self, Diagnostic, Loaded, Severity};
use std::io::Write;
use std::time::Duration;

/// Reads the `canary` input for a command that then acts on a cluster: prints every finding
/// and, when any is an error, reports them (check-run annotations, job summary) and returns
/// `None`: nothing may be written.
pub fn load_valid(settings: &Settings, what: &str, command: &str) -> Result<Option<Loaded>, Error> {
    let loaded = load(&settings.canary, false, what)?;
    print_diagnostics(&loaded.diagnostics, settings.github.is_actions())?;
    if loaded.errors() == 0 {
        if matches!(command, "run" | "step") {
            check_apply(settings)?;
        }
        return Ok(Some(loaded));
    }
    report_findings(settings, command, &loaded.diagnostics, Verdict::Invalid);
    Ok(None)
}

/// [`load_valid`] for a command that drives a cluster, with its cluster options parsed and each
/// canary checked against what this build drives (nothing is written otherwise).
pub fn load_for(
    settings: &Settings,
    args: &crate::cli::ClusterArgs,
    what: &str,
    command: &str,
) -> Result<Option<(Loaded, crate::driver::Cluster)>, Error> {
    let Some(loaded) = load_valid(settings, what, command)? else {
        return Ok(None);
    };
    let cluster = crate::driver::Cluster::from_args(args)?;
    for c in &loaded.canaries {
        crate::driver::check_supported(c, &cluster)?;
    }
    Ok(Some((loaded, cluster)))
}

/// `run` and `step` apply the `apply` manifests only once they hold the lock (and have
/// initialized the canary): a file that is missing or not a manifest must be refused before the
/// cluster is touched, so it is read and checked here.
fn check_apply(settings: &Settings) -> Result<(), Error> {
    if settings.apply.is_empty() {
        return Ok(());
    }
    let inputs: Vec<InputPath> = settings
        .apply
        .iter()
        .map(|f| settings.input_path(f))
        .collect();
    let invalid = |e: Error| Error::Invalid(format!("input apply: {e}"));
    let sources = crate::sources::read_all(&inputs, false).map_err(invalid)?;
    crate::spec::manifests::manifests(&sources, true).map_err(invalid)?;
    Ok(())
}

/// Sends spec findings to the check run and the runner's files (not the console: the command
/// printed them already). Quietly does nothing when there is nowhere to send them.
pub fn report_findings(
    settings: &Settings,
    command: &str,
    findings: &[Diagnostic],
    verdict: Verdict,
) {
    let files = Reporter::files_for(settings).map(SharedFiles::new);
    let mut reporter = Reporter::for_canary(
        settings,
        &Default::default(),
        Duration::from_secs(10),
        false,
        files.clone(),
    );
    if reporter.is_empty() {
        return;
    }
    let mut report = Report::new(command, command);
    report.findings = findings.to_vec();
    report.findings.sort_by_key(|d| d.severity);
    report.message = Some(count(findings));
    report.verdict = Some(verdict);
    report.run_url = settings.github.run_url();
    if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        rt.block_on(reporter.send(Event::Finished, &mut report));
    }
    if let Some(f) = &files {
        f.finish();
    }
}

fn count(findings: &[Diagnostic]) -> String {
    let n = |s| findings.iter().filter(|d| d.severity == s).count();
    format!(
        "{} errors, {} warnings, {} notices",
        n(Severity::Error),
        n(Severity::Warning),
        n(Severity::Notice)
    )
}

/// Reads and validates the specs at `inputs`. Finding no Flagger object at all is invalid input.
pub fn load(inputs: &[InputPath], recursive: bool, what: &str) -> Result<Loaded, Error> {
    if inputs.is_empty() {
        return Err(Error::Invalid(format!(
            "nothing to {what}: pass spec files or directories, or set the `canary` input"
        )));
    }
    let sources = crate::sources::read_all(inputs, recursive)?;
    let loaded = spec::load(&sources);
    for (file, skipped) in &loaded.skipped {
        tracing::debug!("{file}: skipped {skipped} (not a flagger.app object)");
    }
    let found_nothing = loaded.canaries.is_empty()
        && loaded.templates.is_empty()
        && loaded.alert_providers.is_empty()
        && loaded.errors() == 0;
    if found_nothing {
        let names: Vec<&str> = inputs.iter().map(|i| i.shown.as_str()).collect();
        return Err(Error::Invalid(format!(
            "{}: no flagger.app/v1beta1 Canary, MetricTemplate or AlertProvider found",
            names.join(", ")
        )));
    }
    Ok(loaded)
}

/// Prints findings one per line on standard error and, under GitHub Actions, as annotations.
pub fn print_diagnostics(diagnostics: &[Diagnostic], actions: bool) -> Result<(), Error> {
    let mut err = std::io::stderr().lock();
    let fail = |source| Error::WriteOutput {
        what: "standard error".into(),
        source,
    };
    for d in diagnostics {
        writeln!(err, "{d}").map_err(fail)?;
    }
    if actions {
        for line in console::annotations(diagnostics) {
            writeln!(err, "{line}").map_err(fail)?;
        }
    }
    Ok(())
}
