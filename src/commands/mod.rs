//! One file per subcommand; `run` picks it. Commands return an [`Outcome`] or an [`Error`] and
//! never exit the process themselves.

#[cfg(feature = "demo")]
mod demo;
pub mod init;
mod plan;
mod release;
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
        Command::Run(args) => rollout::run(settings, &args.cluster, rollout::Mode::Run),
        Command::Step(args) => rollout::run(
            settings,
            &args.cluster,
            rollout::Mode::Step(settings.until_weight),
        ),
        Command::Promote(args) => rollout::run(settings, &args.cluster, rollout::Mode::Promote),
        Command::Rollback(args) => rollout::run(settings, &args.cluster, rollout::Mode::Rollback),
        #[cfg(feature = "demo")]
        Command::Demo => demo::run(settings),
        Command::Plan(args) => plan::run(settings, args),
        Command::Status(args) => rollout::run(
            settings,
            &args.cluster,
            rollout::Mode::Status(args.output, args.watch),
        ),
    }
}

/// The runtime of a command that talks to a cluster (two workers: CI runners are small).
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Infra(format!("starting the runtime: {e}")))
}
