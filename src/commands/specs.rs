//! Reading and checking the specs a command was given, shared by every subcommand.

use crate::error::Error;
use crate::report::console;
use crate::settings::InputPath;
use crate::spec::{self, Diagnostic, Loaded};
use std::io::Write;

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
