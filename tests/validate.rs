//! `canary-gate validate` through the binary: the fixture corpus, directories, formats and the
//! GitHub Actions surface.

use crate::support::{canary_gate, cg, fixtures, rel, root, run};

#[test]
fn the_valid_directory_validates() {
    let r = cg(&["validate", "fixtures/canary/valid"]);
    assert_eq!(r.code, 0, "stderr:\n{}", r.stderr);
    assert!(r.error_lines().is_empty(), "{}", r.stderr);
    let oks = r
        .stdout
        .lines()
        .filter(|l| l.contains(": ok: Canary "))
        .count();
    assert!(
        oks >= 15,
        "expected at least 15 canaries, got {oks}:\n{}",
        r.stdout
    );
}

#[test]
fn every_valid_fixture_validates_alone() {
    let files = fixtures("fixtures/canary/valid");
    assert!(files.len() >= 15, "at least 15 valid fixtures");
    for f in files {
        let r = cg(&["validate", &rel(&f)]);
        assert_eq!(r.code, 0, "{}:\n{}", f.display(), r.stderr);
    }
}

#[test]
fn every_invalid_fixture_fails_with_its_expected_lines() {
    let files = fixtures("fixtures/canary/invalid");
    assert!(files.len() >= 30, "at least 30 invalid fixtures");
    let mut failures = Vec::new();
    for f in files {
        let expected_path = f.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            panic!("{} has no sidecar {}", f.display(), expected_path.display())
        });
        let expected: Vec<&str> = expected.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(
            !expected.is_empty(),
            "{} expects nothing",
            expected_path.display()
        );
        let r = cg(&["validate", &rel(&f)]);
        if r.code != 2 || r.error_lines() != expected {
            failures.push(format!(
                "{}: exit {}\n  expected: {:?}\n  got:      {:?}",
                rel(&f),
                r.code,
                expected,
                r.error_lines()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_directory_with_one_bad_file_names_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let good =
        std::fs::read_to_string(root().join("fixtures/canary/valid/nginx-step-weights.yaml"))
            .unwrap();
    let bad = std::fs::read_to_string(
        root().join("fixtures/canary/invalid/interval-not-a-duration.yaml"),
    )
    .unwrap();
    std::fs::write(dir.path().join("a-good.yaml"), good).unwrap();
    std::fs::write(dir.path().join("b-bad.yml"), bad).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not yaml: [").unwrap();
    let shown = dir.path().to_string_lossy().into_owned();
    let r = cg(&["validate", &shown]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        r.error_lines(),
        vec![format!(
            "{shown}/b-bad.yml:19:15: error: spec.analysis.interval: \"30 seconds\" is not a duration (e.g. 30s, 1m)"
        )]
    );
    assert!(
        r.stdout
            .contains(&format!("{shown}/a-good.yaml: ok: Canary shop/frontend")),
        "{}",
        r.stdout
    );
}

#[test]
fn directories_are_read_recursively_only_with_r() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("svc")).unwrap();
    std::fs::copy(
        root().join("fixtures/canary/valid/skip-analysis.yaml"),
        dir.path().join("svc/canary.yaml"),
    )
    .unwrap();
    let shown = dir.path().to_string_lossy().into_owned();
    let flat = cg(&["validate", &shown]);
    assert_eq!(flat.code, 2);
    assert!(flat.stderr.contains("use -R"), "{}", flat.stderr);
    let deep = cg(&["validate", "-R", &shown]);
    assert_eq!(deep.code, 0, "{}", deep.stderr);
    assert!(
        deep.stdout.contains("svc/canary.yaml: ok"),
        "{}",
        deep.stdout
    );
}

#[test]
fn files_without_canaries_and_missing_paths_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let deploy = dir.path().join("deploy.yaml");
    std::fs::write(
        &deploy,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n",
    )
    .unwrap();
    let r = cg(&["validate", &deploy.to_string_lossy()]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no flagger.app/v1beta1 Canary"),
        "{}",
        r.stderr
    );

    let r = cg(&["validate", "fixtures/canary/nope.yaml"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("fixtures/canary/nope.yaml: No such file"),
        "{}",
        r.stderr
    );
}

#[test]
fn standard_input_is_read_with_a_dash() {
    use std::io::Write;
    let text =
        std::fs::read_to_string(root().join("fixtures/canary/invalid/provider-typo.yaml")).unwrap();
    let mut child = canary_gate()
        .args(["validate", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("<stdin>:7:13: error: spec.provider: \"ngnix\""),
        "{stderr}"
    );
}

#[test]
fn json_report() {
    let r = cg(&[
        "validate",
        "--format",
        "json",
        "fixtures/canary/valid/nginx-step-weight.yaml",
        "fixtures/canary/invalid/unknown-field-typo.yaml",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.is_empty(),
        "JSON mode prints nothing else: {}",
        r.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"], 1);
    let c = &v["canaries"][0];
    assert_eq!(c["name"], "podinfo");
    assert_eq!(c["strategy"], "canary");
    assert_eq!(
        c["weights"],
        serde_json::json!([5, 10, 15, 20, 25, 30, 35, 40, 45, 50])
    );
    let d = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["severity"] == "error")
        .unwrap();
    assert_eq!(d["file"], "fixtures/canary/invalid/unknown-field-typo.yaml");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(19), Some(5))
    );
    assert_eq!(d["path"], "spec.analysis.intervall");
}

#[test]
fn under_github_actions_errors_are_annotations_on_the_file() {
    let scratch = tempfile::tempdir().unwrap();
    let r = run(canary_gate()
        .env("GITHUB_ACTIONS", "true")
        .env("INPUT_REPORT", scratch.path().join("report.json"))
        .args([
            "validate",
            "fixtures/canary/invalid/interval-not-a-duration.yaml",
        ]));
    assert_eq!(r.code, 2);
    let expected = "::error file=fixtures/canary/invalid/interval-not-a-duration.yaml,line=19,col=15,title=canary-gate%3A spec.analysis.interval::\"30 seconds\" is not a duration (e.g. 30s, 1m)";
    assert!(r.stderr.lines().any(|l| l == expected), "{}", r.stderr);
    let plain = cg(&[
        "validate",
        "fixtures/canary/invalid/interval-not-a-duration.yaml",
    ]);
    assert!(
        !plain.stderr.contains("::error"),
        "no workflow commands outside Actions"
    );
}

#[test]
fn the_action_runs_validate_from_inputs_relative_to_the_workspace() {
    let elsewhere = tempfile::tempdir().unwrap();
    let r = run(canary_gate()
        .current_dir(elsewhere.path())
        .env("GITHUB_ACTIONS", "true")
        .env("INPUT_REPORT", elsewhere.path().join("report.json"))
        .env("GITHUB_WORKSPACE", root())
        .env("INPUT_COMMAND", "validate")
        .env("INPUT_CANARY", "fixtures/canary/valid/nginx-ab-header.yaml\nfixtures/canary/invalid/provider-typo.yaml\n")
        .env("INPUT_GITHUB-TOKEN", "ghs_secret_value_123")
        .env("INPUT_NAMESPACE", "")
        .env("INPUT_TIMEOUT", ""));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        r.stderr.lines().next(),
        Some("::add-mask::ghs_secret_value_123")
    );
    assert_eq!(
        r.stderr.matches("ghs_secret_value_123").count(),
        1,
        "the token is printed only to mask it"
    );
    assert!(
        r.stdout
            .contains("fixtures/canary/valid/nginx-ab-header.yaml: ok: Canary ab/podinfo"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains("::error file=fixtures/canary/invalid/provider-typo.yaml,line=7,col=13"),
        "{}",
        r.stderr
    );
}

#[test]
fn gateway_api_filters_flagger_would_drop_or_read_differently_are_warned_about() {
    let r = cg(&[
        "validate",
        "fixtures/canary/invalid/gatewayapi-filters.yaml",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    for (at, says) in [
        (
            "18:13: warning: spec.service.rewrite.type",
            "read as ReplaceFullPath",
        ),
        (
            "21:9: warning: spec.service.corsPolicy.allowOrigins",
            "exact origins only",
        ),
        (
            "22:15: warning: spec.service.corsPolicy.maxAge",
            "not a Go duration",
        ),
        (
            "20:7: notice: spec.service.corsPolicy",
            "experimental channel",
        ),
    ] {
        assert!(
            r.stderr.lines().any(|l| l.contains(at) && l.contains(says)),
            "{at} {says}:\n{}",
            r.stderr
        );
    }
}

/// Every provider value Flagger v1.44's CRD accepts, through `canary-gate validate`: driven (no
/// "does not drive"), or a warning that says why not and where to go; never silently accepted.
#[test]
fn every_provider_of_flaggers_crd_is_driven_or_warned_about() {
    let crd =
        std::fs::read_to_string(root().join("fixtures/canary/flagger-providers.txt")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for p in crd
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let target = match p {
            "knative" => "{apiVersion: serving.knative.dev/v1, kind: Service, name: app}",
            _ => "{apiVersion: apps/v1, kind: Deployment, name: app}",
        };
        let text = format!(
            "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {{name: app, namespace: test}}\nspec:\n  provider: {p}\n  targetRef: {target}\n  ingressRef: {{apiVersion: networking.k8s.io/v1, kind: Ingress, name: app}}\n  routeRef: {{apiVersion: apisix.apache.org/v2, kind: ApisixRoute, name: app}}\n  service:\n    port: 80\n    gatewayRefs: [{{name: gw}}]\n  analysis: {{interval: 10s, threshold: 2, maxWeight: 50, stepWeight: 10}}\n"
        );
        let path = dir.path().join("canary.yaml");
        std::fs::write(&path, text).unwrap();
        let r = cg(&["validate", path.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{p}: {}", r.stderr);
        let retired = ["appmesh", "appmesh:v1beta2", "osm"].contains(&p);
        let warned = r.stderr.contains(&format!("{p}: "))
            && r.stderr
                .contains("so canary-gate does not drive it; move the route to the Gateway API");
        assert_eq!(warned, retired, "{p}: {}", r.stderr);
        assert!(
            retired || !r.stderr.contains("does not drive"),
            "{p}: {}",
            r.stderr
        );
        checked += 1;
    }
    assert_eq!(checked, 19, "Flagger v1.44's CRD lists 19 provider values");
}
