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
