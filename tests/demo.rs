//! `canary-gate demo` as a user runs it: exit 0 with both outcomes, with and without Prometheus on
//! PATH, and nothing left behind.

use crate::support::canary_gate;

fn leftovers(pid: u32) -> Vec<String> {
    let mut out = Vec::new();
    let marker = format!("canary-sim-prometheus-{pid}");
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmd).contains(&marker)
        {
            out.push(format!("process {:?}", entry.file_name()));
        }
    }
    for dir in [format!("canary-gate-demo-{pid}"), marker] {
        if std::env::temp_dir().join(&dir).exists() {
            out.push(dir);
        }
    }
    out
}

fn demo(path: Option<&std::path::Path>) -> (i32, String, u32) {
    let mut cmd = canary_gate();
    cmd.arg("demo")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(p) = path {
        cmd.env("PATH", p);
    }
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        pid,
    )
}

#[test]
fn demo_without_prometheus_uses_the_sim_provider() {
    let empty = tempfile::tempdir().unwrap();
    let (code, stdout, pid) = demo(Some(empty.path()));
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("`sim` metrics provider"), "{stdout}");
    assert!(
        stdout.contains("release 6.7.1: promoted") && stdout.contains("release 6.7.2: rolled back"),
        "{stdout}"
    );
    assert!(
        stdout.contains("halt advancement: request-success-rate"),
        "{stdout}"
    );
    assert!(leftovers(pid).is_empty(), "{:?}", leftovers(pid));
}

#[test]
fn demo_with_prometheus() {
    if !canary_gate_sim::prometheus::Prometheus::available() {
        assert!(
            !crate::support::required("prometheus"),
            "prometheus is required here"
        );
        eprintln!("skipped: prometheus is not installed");
        return;
    }
    let (code, stdout, pid) = demo(None);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("metrics:    Prometheus at http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("release 6.7.1: promoted") && stdout.contains("release 6.7.2: rolled back"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the primary runs ghcr.io/stefanprodan/podinfo:6.7.1"),
        "{stdout}"
    );
    assert!(leftovers(pid).is_empty(), "{:?}", leftovers(pid));
}
