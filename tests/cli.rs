//! The command-line and action surface: version, usage, the `command` input, input checks.

use crate::support::{canary_gate, cg, run};

#[test]
fn version_prints_the_crate_version() {
    let r = cg(&["--version"]);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout.trim(),
        format!("canary-gate {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn no_command_prints_usage_and_exits_2() {
    let r = cg(&[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no command given"), "{}", r.stderr);
    assert!(r.stderr.contains("Usage: canary-gate"), "{}", r.stderr);
}

#[test]
fn an_unknown_command_input_names_the_input() {
    let r = run(canary_gate().env("INPUT_COMMAND", "promote"));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("unknown command \"promote\" in the `command` input (INPUT_COMMAND)"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_inputs_are_one_line_errors_with_exit_2() {
    let r = run(canary_gate()
        .env("INPUT_TIMEOUT", "ten minutes")
        .args(["validate", "fixtures/canary/valid/skip-analysis.yaml"]));
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr.trim(),
        "canary-gate: error: input timeout: \"ten minutes\" is not a positive duration (e.g. 30m, 1h30m)"
    );
    let r = run(canary_gate()
        .env("INPUT_METRICS-SERVER", "prometheus:9090")
        .args(["validate", "fixtures/canary/valid/skip-analysis.yaml"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .starts_with("canary-gate: error: input metrics-server: \"prometheus:9090\""),
        "{}",
        r.stderr
    );
    let r = run(canary_gate()
        .env("INPUT_LOG-LEVEL", "chatty")
        .args(["validate", "fixtures/canary/valid/skip-analysis.yaml"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("chatty"), "{}", r.stderr);
}

#[test]
fn the_log_level_input_accepts_any_case() {
    let r = run(canary_gate()
        .env("INPUT_LOG-LEVEL", "DEBUG")
        .args(["validate", "fixtures/canary/valid/skip-analysis.yaml"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn help_lists_every_input_with_its_variable() {
    let r = cg(&["validate", "--help"]);
    assert_eq!(r.code, 0);
    for var in [
        "INPUT_CANARY",
        "INPUT_KUBECONFIG",
        "INPUT_NAMESPACE",
        "INPUT_METRICS-SERVER",
        "INPUT_GITHUB-TOKEN",
        "INPUT_TIMEOUT",
        "INPUT_LOG-LEVEL",
    ] {
        assert!(
            r.stdout.contains(var),
            "{var} missing from help:\n{}",
            r.stdout
        );
    }
}
