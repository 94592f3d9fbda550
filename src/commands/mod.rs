//! One file per subcommand, each a thin adapter from flags to the driver; `run` picks it.
//! `specs.rs` (loading and checking the spec files) serves them. Commands return an [`Outcome`] or an [`Error`] and never exit the process
//! themselves. Nothing outside `main.rs` imports from here.

#[cfg(feature = "demo")]
mod demo;
mod init;
mod plan;
mod run;
mod specs;
mod status;
mod validate;

use crate::cli::Command;
use crate::driver::session::Mode;
use crate::error::{Error, Outcome};
use crate::settings::Settings;

/// Runs the resolved command.
pub fn run(settings: &Settings) -> Result<Outcome, Error> {
    match &settings.command {
        Command::Validate(args) => validate::run(settings, args),
        Command::Init(args) => init::run(settings, args),
        Command::Run(args) => run::run(settings, &args.cluster, Mode::Run),
        Command::Step(args) => run::run(settings, &args.cluster, Mode::Step(settings.until_weight)),
        Command::Promote(args) => run::run(settings, &args.cluster, Mode::Promote),
        Command::Rollback(args) => run::run(settings, &args.cluster, Mode::Rollback),
        #[cfg(feature = "demo")]
        Command::Demo => demo::run(settings),
        Command::Plan(args) => plan::run(settings, args),
        Command::Status(args) => status::run(settings, args),
    }
}
