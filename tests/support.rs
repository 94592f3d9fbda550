//! Helpers shared by the integration tests: running the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `canary-gate` command with a clean environment (no GitHub or INPUT_ variables leak in from
/// the machine running the tests), run from the repository root.
pub fn canary_gate() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_canary-gate"));
    cmd.current_dir(root());
    for (key, _) in std::env::vars() {
        if key.starts_with("GITHUB_") || key.starts_with("INPUT_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// What a run printed and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Lines of standard error that are `error:` diagnostics.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.contains(": error: "))
            .collect()
    }
}

/// Runs a prepared command.
pub fn run(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("the binary runs");
    Run {
        code: status.code().expect("exited normally"),
        stdout: String::from_utf8(stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(stderr).expect("utf-8 stderr"),
    }
}

/// `canary-gate <args>` from the repository root.
pub fn cg(args: &[&str]) -> Run {
    run(canary_gate().args(args))
}

/// The YAML files of a fixture directory, sorted.
pub fn fixtures(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .expect("fixture directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// `path` relative to the repository root, as a string.
pub fn rel(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// Polls `f` every 50 ms until it returns `Some`, for at most `limit`.
pub fn poll<T>(limit: std::time::Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// Tools the environment promises (CI sets CANARY_SIM_REQUIRE to a comma-separated list).
pub fn required(program: &str) -> bool {
    std::env::var("CANARY_SIM_REQUIRE").is_ok_and(|v| v.split(',').any(|p| p == program))
}
