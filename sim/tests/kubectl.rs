//! The machine's real kubectl against the simulator's kubeconfig.

use crate::support::{have, required};
use canary_gate_sim::{Sim, SimConfig};
use std::process::Command;
use std::time::Duration;

const MANIFESTS: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: shop
  labels: {app: podinfo}
spec:
  replicas: 2
  selector:
    matchLabels: {app: podinfo}
  template:
    metadata:
      labels: {app: podinfo}
    spec:
      containers:
        - name: podinfo
          image: ghcr.io/stefanprodan/podinfo:6.7.0
          ports: [{name: http, containerPort: 9898}]
        - name: sidecar
          image: busybox:1.36
---
apiVersion: v1
kind: Service
metadata:
  name: podinfo
  namespace: shop
spec:
  selector: {app: podinfo}
  ports: [{name: http, port: 80, targetPort: 9898}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: podinfo
  namespace: shop
spec:
  ingressClassName: nginx
  rules:
    - host: app.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service: {name: podinfo, port: {number: 80}}
"#;

struct Kubectl {
    kubeconfig: std::path::PathBuf,
}

impl Kubectl {
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .expect("kubectl runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args);
        assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
        out
    }
}

#[test]
fn kubectl_apply_get_patch_scale_delete() {
    if !have("kubectl") {
        assert!(
            !required("kubectl"),
            "kubectl is required here but not installed"
        );
        eprintln!("skipped: kubectl is not installed");
        return;
    }
    let sim = Sim::start(SimConfig {
        ready_after: Duration::from_millis(200),
        ..SimConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.yaml");
    std::fs::write(&file, MANIFESTS).unwrap();
    let k = Kubectl {
        kubeconfig: sim.kubeconfig.clone(),
    };
    let file = file.to_string_lossy().into_owned();

    let applied = k.ok(&["apply", "-f", &file]);
    assert_eq!(
        applied.lines().collect::<Vec<_>>(),
        vec![
            "namespace/shop created",
            "deployment.apps/podinfo created",
            "service/podinfo created",
            "ingress.networking.k8s.io/podinfo created"
        ]
    );

    let json: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "deployment", "podinfo", "-n", "shop", "-o", "json"]))
            .unwrap();
    assert_eq!(json["metadata"]["name"], "podinfo");
    assert_eq!(json["spec"]["replicas"], 2);
    assert_eq!(json["metadata"]["generation"], 1);
    let svc: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "svc", "podinfo", "-n", "shop", "-o", "json"]))
            .unwrap();
    assert!(
        svc["spec"]["clusterIP"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("10.96.")),
        "{svc}"
    );
    let yaml = k.ok(&["get", "ingress", "podinfo", "-n", "shop", "-o", "yaml"]);
    assert!(
        yaml.contains("name: podinfo") && yaml.contains("host: app.example.com"),
        "{yaml}"
    );

    // A changed manifest re-applied: a strategic merge patch that keeps the sidecar.
    std::fs::write(
        dir.path().join("app.yaml"),
        MANIFESTS.replace("podinfo:6.7.0", "podinfo:6.7.1"),
    )
    .unwrap();
    let reapplied = k.ok(&["apply", "-f", &file]);
    assert!(
        reapplied.contains("deployment.apps/podinfo configured"),
        "{reapplied}"
    );
    assert!(
        reapplied.contains("service/podinfo unchanged"),
        "{reapplied}"
    );
    let images = k.ok(&[
        "get",
        "deploy",
        "podinfo",
        "-n",
        "shop",
        "-o",
        "jsonpath={.spec.template.spec.containers[*].image} {.metadata.generation}",
    ]);
    assert_eq!(images, "ghcr.io/stefanprodan/podinfo:6.7.1 busybox:1.36 2");

    assert_eq!(
        k.ok(&[
            "patch",
            "deployment",
            "podinfo",
            "-n",
            "shop",
            "--type",
            "merge",
            "-p",
            r#"{"metadata":{"labels":{"team":"web"}}}"#
        ])
        .trim(),
        "deployment.apps/podinfo patched"
    );
    assert_eq!(
        k.ok(&["patch", "ingress", "podinfo", "-n", "shop", "--type", "json", "-p", r#"[{"op":"add","path":"/metadata/annotations","value":{"nginx.ingress.kubernetes.io/canary":"false"}}]"#]).trim(),
        "ingress.networking.k8s.io/podinfo patched"
    );
    assert_eq!(
        k.ok(&[
            "scale",
            "deployment",
            "podinfo",
            "-n",
            "shop",
            "--replicas=3"
        ])
        .trim(),
        "deployment.apps/podinfo scaled"
    );
    assert_eq!(
        k.ok(&["get", "deploy", "-n", "shop", "-l", "team=web", "-o", "jsonpath={.items[*].metadata.name} {.items[*].spec.replicas} {.items[*].metadata.generation}"]),
        "podinfo 3 3"
    );
    let pods = k.ok(&[
        "get",
        "pods",
        "-n",
        "shop",
        "-l",
        "app=podinfo",
        "-o",
        "name",
    ]);
    assert!(
        pods.lines().all(|l| l.starts_with("pod/podinfo-")),
        "{pods}"
    );

    let deleted = k.ok(&["delete", "-f", &file]);
    assert!(
        deleted.contains("deployment.apps \"podinfo\" deleted"),
        "{deleted}"
    );
    let (ok, _, err) = k.run(&["get", "deployment", "podinfo", "-n", "shop"]);
    assert!(!ok);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
}
