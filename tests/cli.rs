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
    let r = run(canary_gate().env("INPUT_COMMAND", "deploy"));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("unknown command \"deploy\" in the `command` input (INPUT_COMMAND)"),
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
    for (var, value, says) in [
        (
            "INPUT_IMAGE",
            "podinfo",
            "input image: \"podinfo\" is not CONTAINER=IMAGE",
        ),
        (
            "INPUT_UNTIL-WEIGHT",
            "half",
            "input until-weight: \"half\" is not a weight from 0 to 100",
        ),
        (
            "INPUT_UNTIL-WEIGHT",
            "150",
            "input until-weight: \"150\" is not a weight from 0 to 100",
        ),
    ] {
        let r = run(canary_gate().env(var, value).args([
            "step",
            "--canary",
            "fixtures/k8s/canary.yaml",
        ]));
        assert_eq!(r.code, 2, "{var}={value}: {}", r.stderr);
        assert_eq!(r.stderr.trim(), format!("canary-gate: error: {says}"));
    }
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

#[test]
fn action_inputs_and_cli_flags_are_one_interface() {
    let text = std::fs::read_to_string(crate::support::root().join("action.yml")).unwrap();
    let action: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let inputs = action["inputs"].as_object().unwrap();
    let help = cg(&["validate", "--help"]).stdout;
    for (name, input) in inputs {
        assert!(
            input["description"].as_str().is_some_and(|d| d.len() > 20),
            "{name} needs a description"
        );
        let var = format!("INPUT_{}", name.to_uppercase());
        if name != "command" {
            assert!(
                help.contains(&format!("--{name}")),
                "flag --{name} missing:\n{help}"
            );
            assert!(help.contains(&var), "{var} missing:\n{help}");
        }
    }
    assert_eq!(action["inputs"]["command"]["default"], "run");
    assert_eq!(
        action["inputs"]["github-token"]["default"],
        "${{ github.token }}"
    );
    assert_eq!(action["runs"]["using"], "docker");
    assert_eq!(action["runs"]["image"], "Dockerfile");
    let outputs: Vec<&str> = action["outputs"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for o in [
        "phase",
        "canary-weight",
        "failed-checks",
        "check-run-url",
        "report",
    ] {
        assert!(outputs.contains(&o), "output {o} missing");
    }
}
