//! The pure core stays pure: nothing under `src/spec/` or `src/rollout/` names an I/O crate.

use crate::support::root;
use std::path::Path;

const FORBIDDEN: &[&str] = &["kube", "k8s_openapi", "octocrab", "reqwest", "tokio"];

/// Every forbidden crate named in Rust source `text` (comments excluded), with the line number.
fn forbidden_names(text: &str) -> Vec<(usize, &'static str)> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let words = code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
        for word in words {
            if let Some(name) = FORBIDDEN.iter().find(|f| **f == word) {
                found.push((i + 1, *name));
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_scanner_catches_imports_and_paths() {
    let text = "use kube::Api;\nlet c = k8s_openapi::api::core::v1::Pod::default();\n// tokio is fine in a comment\nfn f() { tokio::spawn(x); }\nuse crate::kubernetes;\n";
    let names: Vec<_> = forbidden_names(text).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, vec!["kube", "k8s_openapi", "tokio"]);
}

#[test]
fn spec_and_rollout_name_no_io_crates() {
    let mut files = Vec::new();
    rust_files(&root().join("src/spec"), &mut files);
    rust_files(&root().join("src/rollout"), &mut files);
    assert!(
        files.len() >= 10,
        "expected the spec and rollout sources, found {files:?}"
    );
    let mut offences = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable source");
        for (line, name) in forbidden_names(&text) {
            offences.push(format!("{}:{line}: names {name}", file.display()));
        }
    }
    assert!(
        offences.is_empty(),
        "the pure core must not use I/O crates:\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_product_does_not_depend_on_the_simulator() {
    // Only `src/commands/demo.rs` may name the simulator crate.
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        if text.contains("canary_gate_sim") {
            assert!(
                f.ends_with("commands/demo.rs") || f.ends_with("commands/mod.rs"),
                "{} uses the simulator",
                f.display()
            );
        }
    }
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("manifest");
    let mut section = String::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line.to_string();
        } else if line.starts_with("canary-gate-sim") {
            let optional_for_demo = section == "[dependencies]" && line.contains("optional = true");
            assert!(
                section == "[dev-dependencies]" || optional_for_demo,
                "canary-gate-sim may only be a dev-dependency, or optional for the demo feature; found under {section}: {line}"
            );
        }
    }
}

/// The Rust sources under `src/` with their paths relative to `src/` and their code (comments
/// and doc comments dropped).
fn sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    files
        .into_iter()
        .map(|f| {
            let rel = f
                .strip_prefix(root().join("src"))
                .expect("under src")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&f).expect("readable source");
            let code: Vec<&str> = text
                .lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .collect();
            (rel, code.join("\n"))
        })
        .collect()
}

/// Every `file: pattern` where a file outside `allowed` names one of `patterns` in code.
fn named_outside(patterns: &[&str], allowed: impl Fn(&str) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    for (file, code) in sources() {
        if allowed(&file) {
            continue;
        }
        for p in patterns {
            if code.contains(p) {
                found.push(format!("src/{file}: {p}"));
            }
        }
    }
    found
}

#[test]
fn nothing_imports_from_the_commands() {
    let found = named_outside(&["commands::", "crate::commands"], |f| {
        f.starts_with("commands/") || f == "main.rs" || f == "lib.rs"
    });
    assert!(
        found.is_empty(),
        "only main.rs reaches the subcommands; the driver is shared:\n{}",
        found.join("\n")
    );
    let main = std::fs::read_to_string(root().join("src/main.rs")).expect("main.rs");
    assert!(
        main.contains("commands::run"),
        "the scan must see main.rs use the commands"
    );
}

/// The files that implement a router or a workload, and the paths that name them.
const IMPLEMENTATIONS: &[&str] = &[
    "router::nginx",
    "nginx::",
    "router::gateway_api",
    "gateway_api::",
    "router::kubernetes",
    "kubernetes::NoL7",
    "workload::deployment",
    "deployment::",
    "workload::service_target",
    "service_target::",
];

#[test]
fn routers_and_workloads_are_reached_only_through_their_traits() {
    let found = named_outside(IMPLEMENTATIONS, |f| {
        f.starts_with("router/") || f.starts_with("workload/") || f == "driver/edges.rs"
    });
    assert!(
        found.is_empty(),
        "a router or workload is named outside driver/edges.rs; use the TrafficRouter and Workload traits:\n{}",
        found.join("\n")
    );
    let edges = std::fs::read_to_string(root().join("src/driver/edges.rs")).expect("edges.rs");
    for p in [
        "nginx::",
        "gateway_api::",
        "deployment::",
        "service_target::",
    ] {
        assert!(edges.contains(p), "driver/edges.rs chooses {p}");
    }
}

#[test]
fn provider_and_target_kind_are_dispatched_in_one_place() {
    // The pure core may decide Flagger's semantics by provider (blue/green for `kubernetes`);
    // every edge is chosen in driver/edges.rs.
    let found = named_outside(&["Provider::", "TargetKind::"], |f| {
        f.starts_with("spec/") || f.starts_with("rollout/") || f == "driver/edges.rs"
    });
    assert!(
        found.is_empty(),
        "provider or target kind tested outside driver/edges.rs:\n{}",
        found.join("\n")
    );
}

/// `(lines, file, first line, name)` of every function: from its `fn` line to the closing brace
/// at the same indentation.
fn functions(file: &str, text: &str) -> Vec<(usize, String, usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let rest = ["pub(crate) ", "pub ", ""]
            .iter()
            .find_map(|p| trimmed.strip_prefix(p))
            .unwrap_or(trimmed);
        let rest = rest.strip_prefix("async ").unwrap_or(rest);
        let Some(sig) = rest.strip_prefix("fn ") else {
            continue;
        };
        let name: String = sig
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if line.trim_end().ends_with('}') {
            out.push((1, file.to_string(), i + 1, name));
            continue;
        }
        let close = format!("{indent}}}");
        if let Some(end) = lines[i + 1..].iter().position(|l| *l == close) {
            out.push((end + 2, file.to_string(), i + 1, name));
        }
    }
    out
}

#[test]
fn the_function_scanner_measures_from_fn_to_its_brace() {
    let text = "impl X {\n    pub async fn a() {\n        x();\n    }\n}\nfn b() {}\nfn c() {\n}\n";
    let found: Vec<_> = functions("x.rs", text)
        .into_iter()
        .map(|(n, _, _, name)| (name, n))
        .collect();
    let want = [("a", 3), ("b", 1), ("c", 2)].map(|(n, l)| (n.to_string(), l));
    assert_eq!(found, want);
}

#[test]
fn every_function_reads_at_once() {
    let mut long = Vec::new();
    for (file, _) in sources() {
        let text = std::fs::read_to_string(root().join("src").join(&file)).expect("source");
        for (n, file, line, name) in functions(&file, &text) {
            if n > 100 {
                long.push(format!("src/{file}:{line}: fn {name} is {n} lines"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over 100 lines:\n{}",
        long.join("\n")
    );
}

/// Every provider Flagger's CRD accepts, as a spec spells it.
const PROVIDERS: &[&str] = &[
    "apisix",
    "appmesh",
    "appmesh:v1beta2",
    "contour",
    "gatewayapi:v1",
    "gatewayapi:v1beta1",
    "gloo",
    "istio",
    "knative",
    "kubernetes",
    "kuma",
    "linkerd",
    "nginx",
    "osm",
    "skipper",
    "smi:v1alpha1",
    "smi:v1alpha2",
    "smi:v1alpha3",
    "traefik",
];

#[test]
fn validate_and_the_edges_agree_on_what_is_driven() {
    use canary_gate::driver::{Cluster, check_supported};
    use canary_gate::spec::validate::{ACTED_ON_PROVIDERS, ACTED_ON_TARGETS};
    let cluster = Cluster {
        context: None,
        lock_timeout: std::time::Duration::from_secs(30),
        workload: Default::default(),
        ingress_prefix: "nginx.ingress.kubernetes.io".into(),
    };
    let kinds = [
        ("apps/v1", "Deployment"),
        ("apps/v1", "DaemonSet"),
        ("v1", "Service"),
        ("serving.knative.dev/v1", "Service"),
    ];
    let (mut checked, mut refused) = (0, 0);
    for p in PROVIDERS {
        for (api_version, kind) in kinds {
            let text = format!(
                "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {{name: app, namespace: test}}\nspec:\n  provider: {p}\n  targetRef: {{apiVersion: {api_version}, kind: {kind}, name: app}}\n  ingressRef: {{apiVersion: networking.k8s.io/v1, kind: Ingress, name: app}}\n  routeRef: {{apiVersion: apisix.apache.org/v2, kind: ApisixRoute, name: app}}\n  upstreamRef: {{apiVersion: gloo.solo.io/v1, kind: Upstream, name: app}}\n  service:\n    port: 80\n    gatewayRefs: [{{name: gw}}]\n  analysis: {{interval: 10s, threshold: 2, maxWeight: 50, stepWeight: 10}}\n"
            );
            let loaded = canary_gate::spec::load(&[canary_gate::spec::Source {
                name: format!("{p}-{kind}.yaml"),
                text,
            }]);
            let Some(c) = loaded.canaries.first() else {
                // Only Knative pairs a provider with a target kind (both ways), so only a
                // Knative mismatch may be refused by validation itself.
                let knative = (*p == "knative") != api_version.starts_with("serving.knative");
                assert!(knative, "{p} {kind}: {:?}", loaded.diagnostics);
                refused += 1;
                continue;
            };
            let validate_says = ACTED_ON_PROVIDERS.contains(&c.effective_provider)
                && ACTED_ON_TARGETS.contains(&c.target.kind);
            let edges_say = check_supported(c, &cluster);
            assert_eq!(
                validate_says,
                edges_say.is_ok(),
                "{p} with a {kind} target: validate's lists and driver::edges disagree ({edges_say:?})"
            );
            checked += 1;
        }
    }
    assert_eq!(checked + refused, PROVIDERS.len() * kinds.len());
    // Every provider with the three plain kinds, and Knative with its own Service.
    assert_eq!(checked, (PROVIDERS.len() - 1) * 3 + 1, "pairs checked");
}
