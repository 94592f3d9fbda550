//! One file per subcommand; `run` picks it. Commands return an [`Outcome`] or an [`Error`] and
//! never exit the process themselves.

mod init;
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
    }
}
