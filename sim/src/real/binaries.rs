//! Where the real Kubernetes components come from: the directory `testenv/kube/build` fills
//! (`bin/` with kube-apiserver, kube-controller-manager, kubectl and etcd; `crds/` with the
//! Gateway API, Flagger, Istio, SMI, Contour, Traefik, APISIX, Gloo, Knative and Kuma CRDs, refreshed by
//! `testenv/kube/crds`). Must not start anything.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The build script, beside the simulator crate.
fn build_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testenv/kube/build")
}

/// The components' directory: `$CANARY_KUBE_DIR` when set, else what the build script prints
/// (it builds first when its cache is empty, and says so on standard error).
pub fn components() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("CANARY_KUBE_DIR") {
        let dir = PathBuf::from(dir);
        return match dir.join("bin/kube-apiserver").is_file() {
            true => Ok(dir),
            false => Err(format!(
                "CANARY_KUBE_DIR={} holds no bin/kube-apiserver",
                dir.display()
            )),
        };
    }
    let script = build_script();
    let out = Command::new(&script)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}); see its output above",
            script.display(),
            out.status
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let dir = text.lines().last().unwrap_or_default().trim();
    match dir.is_empty() {
        true => Err(format!("{} printed no directory", script.display())),
        false => Ok(PathBuf::from(dir)),
    }
}
