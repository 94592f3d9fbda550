//! The `canary-gate` binary: parse, resolve, run, exit. Everything else is in the library.

use canary_gate::{cli, commands, logging, settings};
use std::process::ExitCode;

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = match cli::parse_from(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let github = settings::GithubContext::from_env();
    let settings = match settings::Settings::resolve(cli, github) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("canary-gate: error: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    if let Some(token) = &settings.github_token {
        settings.masker().mask(token.expose());
    }
    logging::init(settings.log);
    match commands::run(&settings) {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            eprintln!("canary-gate: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
