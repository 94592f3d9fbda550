//! Command-line benchmarks: `--version` and `validate` of 100 spec files, through the real
//! binary built with the bench profile. Run with `cargo bench --bench cli`; prints a table.

// A benchmark's setup failing has nothing to recover: it stops with the reason.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 30;

fn time_runs(label: &str, mut cmd: impl FnMut() -> Command) -> (Duration, Duration) {
    let mut samples = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        let out = cmd().output().expect("binary runs");
        samples.push(start.elapsed());
        assert!(
            out.status.success(),
            "{label} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    samples.sort();
    (samples[0], samples[RUNS / 2])
}

fn write_specs(dir: &Path, n: usize) {
    let template = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/canary/valid/nginx-step-weight.yaml"),
    )
    .expect("fixture");
    for i in 0..n {
        let spec = template.replace(
            "name: podinfo\n  namespace: test",
            &format!("name: app-{i}\n  namespace: test"),
        );
        std::fs::write(dir.join(format!("app-{i:03}.yaml")), spec).expect("write spec");
    }
}

fn main() {
    let bin = env!("CARGO_BIN_EXE_canary-gate");
    let dir = std::env::temp_dir().join(format!("canary-gate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    write_specs(&dir, 100);

    let rows = [
        (
            "canary-gate --version",
            time_runs("version", || {
                let mut c = Command::new(bin);
                c.arg("--version");
                c
            }),
        ),
        (
            "canary-gate validate <100 specs>",
            time_runs("validate", || {
                let mut c = Command::new(bin);
                c.arg("validate").arg(&dir);
                c
            }),
        ),
    ];
    println!("| command | min | median | runs |");
    println!("|---|---|---|---|");
    for (label, (min, median)) in rows {
        println!(
            "| `{label}` | {:.2} ms | {:.2} ms | {RUNS} |",
            ms(min),
            ms(median)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
