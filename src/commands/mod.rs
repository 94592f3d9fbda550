//! One file per subcommand; `run` picks it. Commands return an [`Outcome`] or an [`Error`] and
//! never exit the process themselves.

#[cfg(feature = "demo")]
mod demo;
pub mod init;
mod rollout;
mod specs;
mod validate;

use crate::cli::Command;
use crate::error::{Error, Outcome};
use crate::settings::Settings;

/// Runs the resolved command.
pub fn run(settings: &Settings) -> Result<Outcome, Error> {
    match &settings.command {
        Command::Validate(args) => validate::run(settings, args),
        Command::Init(args) => init::run(settings, args),
        Command::Run(args) => rollout::run(
            settings,
            &args.cluster,
            rollout::Mode::Run(&args.images, &args.apply),
        ),
        Command::Step(args) => rollout::run(
            settings,
            &args.cluster,
            rollout::Mode::Step(args.until_weight),
        ),
        Command::Promote(args) => rollout::run(settings, &args.cluster, rollout::Mode::Promote),
        Command::Rollback(args) => rollout::run(settings, &args.cluster, rollout::Mode::Rollback),
        #[cfg(feature = "demo")]
        Command::Demo => demo::run(settings),
        Command::Status(args) => rollout::run(
            settings,
            &args.cluster,
            rollout::Mode::Status(args.output, args.watch),
        ),
    }
}
