//! `canary-gate plan` against the simulator: the diffs `run` would make, zero writes (the
//! simulator's request log), the same plan in the job summary and as a check run; and a plan from
//! the files alone when there is no cluster.

use crate::cluster::Cluster;
use crate::github::{Github, Workspace, assert_valid};
use crate::support::{Run, cg, root, run};
use serde_json::json;

/// Asserts the command succeeded and printed every one of `texts`.
fn shows(r: &Run, texts: &[&str]) {
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for t in texts {
        assert!(r.stdout.contains(t), "{t:?} missing from:\n{}", r.stdout);
    }
}

/// Runs a plan and asserts it wrote nothing to the simulator.
fn plan_without_writes(c: &Cluster, mut cmd: std::process::Command) -> Run {
    let writes = c.writes();
    let r = run(&mut cmd);
    let after = c.writes();
    assert_eq!(after, writes, "plan wrote: {:?}", &after[writes.len()..]);
    r
}

#[test]
fn plan_shows_the_diffs_and_writes_nothing() {
    let c = Cluster::new();
    c.podinfo(|o| {
        if o["kind"] == "HorizontalPodAutoscaler" {
            o["metadata"]["name"] = json!("unrelated");
        }
    });
    let spec = std::fs::read_to_string(root().join("fixtures/k8s/canary.yaml")).unwrap();
    let ws = Workspace::new(&spec.replace(
        "name: podinfo\n    primaryScalerReplicas",
        "name: unrelated\n    primaryScalerReplicas",
    ));
    let gh = Github::start(201);

    // Before init: everything would be created; the apex Service's selector moves to the primary.
    let r = plan_without_writes(&c, ws.action("plan", &gh.api_url(), &c.sim.kubeconfig));
    shows(
        &r,
        &[
            "- **create** `deployment/podinfo-primary` (init)",
            "- **change** `service/podinfo` (init, once the primary is ready)",
            "-    app: podinfo\n+    app: podinfo-primary\n",
            "+++ ingress/podinfo-canary",
            "| 3 | 30s | 60% |",
            "ingress=\"podinfo\",canary!=\"\"",
        ],
    );

    // After init, with a new image: the target and, on promotion, the primary change; the rest not.
    let init = run(&mut ws.action("init", &gh.api_url(), &c.sim.kubeconfig));
    assert_eq!(init.code, 0, "{}", init.stderr);
    let mut cmd = ws.action("plan", &gh.api_url(), &c.sim.kubeconfig);
    cmd.args([
        "plan",
        "--image",
        "podinfo=ghcr.io/stefanprodan/podinfo:6.7.1",
    ]);
    let r = plan_without_writes(&c, cmd);
    shows(
        &r,
        &[
            "- **change** `deployment/podinfo-primary` (promotion, if the analysis passes)",
            "- **unchanged** `service/podinfo-canary`",
            "- **unchanged** `service/podinfo-primary`",
            "- **unchanged** `service/podinfo`",
            "- **unchanged** `ingress/podinfo-canary`",
        ],
    );
    let image_change = "-        image: ghcr.io/stefanprodan/podinfo:6.7.0\n+        image: ghcr.io/stefanprodan/podinfo:6.7.1\n";
    assert_eq!(
        r.stdout.matches(image_change).count(),
        2,
        "target and primary"
    );

    // The same plan as a check run and in the job summary.
    let calls = gh.requests();
    let last = &calls.last().unwrap().2;
    assert_valid(last, true);
    assert_eq!(last["name"], "canary-gate: test/podinfo (plan)");
    assert_eq!(last["conclusion"], "success");
    assert!(
        last["output"]["summary"]
            .as_str()
            .unwrap()
            .contains(image_change)
    );
    let summary = ws.read("summary.md");
    assert_eq!(summary.matches("#### What run would change").count(), 2);
    assert!(summary.contains(image_change));
}

#[test]
fn without_a_cluster_plan_uses_the_files_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = format!("http://{}", nobody.local_addr().unwrap());
    drop(nobody);
    std::fs::write(&kubeconfig, canary_gate_sim::kubeconfig_yaml(&server, "t")).unwrap();
    let r = cg(&[
        "plan",
        "--canary",
        "fixtures/k8s/canary.yaml",
        "--apply",
        "fixtures/k8s/podinfo.yaml",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ]);
    shows(
        &r,
        &[
            "no cluster (",
            "planned from the files alone",
            "- **create** `deployment/podinfo-primary` (init)",
            "+    app: podinfo-primary",
        ],
    );
}

#[test]
fn each_canary_gets_its_own_plan_check_run() {
    let spec = std::fs::read_to_string(root().join("fixtures/k8s/canary.yaml")).unwrap();
    let two = format!(
        "{spec}---\n{}",
        spec.replace("name: podinfo\n  namespace", "name: frontend\n  namespace")
    );
    let ws = Workspace::new(&two);
    let gh = Github::start(201);
    let r = run(&mut ws.action("plan", &gh.api_url(), std::path::Path::new("/nonexistent")));
    shows(
        &r,
        &[
            "no cluster (",
            "`test/podinfo (plan)`",
            "`test/frontend (plan)`",
        ],
    );
    let calls = gh.requests();
    let names: Vec<&str> = calls
        .iter()
        .map(|c| c.2["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        vec![
            "canary-gate: test/podinfo (plan)",
            "canary-gate: test/frontend (plan)"
        ],
        "one completed check run each, no update of another's"
    );
    assert!(calls.iter().all(|c| c.0 == "POST"));
    let summary = ws.read("summary.md");
    assert_eq!(summary.matches("### 📋 Plan: ").count(), 2);
}

/// Every object of the kinds initialization touches, as `kind/name` → its content (status and
/// server bookkeeping dropped), so a write shows as a difference.
fn snapshot(c: &Cluster) -> std::collections::BTreeMap<String, serde_json::Value> {
    let kinds = [
        ("v1", "Service"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("apps/v1", "Deployment"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("networking.k8s.io/v1", "Ingress"),
    ];
    let mut out = std::collections::BTreeMap::new();
    for (api_version, kind) in kinds {
        for mut o in c.sim.list(api_version, kind, "test") {
            let name = o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if name.starts_with("canary-gate.") {
                continue; // the state, which `plan` does not list
            }
            let meta = o["metadata"].as_object_mut().unwrap();
            for key in ["resourceVersion", "managedFields", "generation"] {
                meta.remove(key);
            }
            o.as_object_mut().unwrap().remove("status");
            out.insert(format!("{}/{name}", kind.to_lowercase()), o);
        }
    }
    out
}

/// The objects a plan says initialization would create or change (`- **create** `kind/name``),
/// leaving out what only a promotion would write.
fn planned(stdout: &str) -> std::collections::BTreeSet<String> {
    stdout
        .lines()
        .filter(|l| l.starts_with("- **create** `") || l.starts_with("- **change** `"))
        .filter(|l| !l.contains("(promotion"))
        .filter_map(|l| l.split('`').nth(1).map(str::to_string))
        .collect()
}

#[test]
fn plan_lists_exactly_the_objects_init_writes() {
    // The fixture app: two tracked ConfigMaps, a tracked Secret, an HPA, an Ingress.
    plan_matches_init(|_| {}, &[]);
}

#[test]
fn a_config_map_opted_out_of_tracking_is_neither_planned_nor_copied() {
    let listed = plan_matches_init(
        |o| {
            if o["metadata"]["name"] == "podinfo-files" {
                o["metadata"]["annotations"] =
                    serde_json::json!({"flagger.app/config-tracking": "disabled"});
            }
        },
        &["configmap/podinfo-files-primary"],
    );
    assert!(listed.contains("configmap/podinfo-config-primary"));
}

/// Plans the fixture app (`edit` applied to each object), checks that everything the plan lists
/// is what `init` then writes, none of `absent` among them, and returns the list.
fn plan_matches_init(
    edit: impl Fn(&mut serde_json::Value),
    absent: &[&str],
) -> std::collections::BTreeSet<String> {
    let c = Cluster::new();
    c.podinfo(edit);
    let spec = "fixtures/k8s/canary.yaml";
    let plan = c.canary_gate(&["plan", "--canary", spec]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    let listed = planned(&plan.stdout);
    for object in [
        "configmap/podinfo-config-primary",
        "configmap/podinfo-files-primary",
        "secret/podinfo-secret-primary",
        "horizontalpodautoscaler/podinfo-primary",
        "deployment/podinfo-primary",
    ] {
        assert_eq!(
            listed.contains(object),
            !absent.contains(&object),
            "{object} planned or not:\n{}",
            plan.stdout
        );
    }

    let before = snapshot(&c);
    let log_start = c.writes().len();
    let init = c.init(spec, &[]);
    assert_eq!(init.code, 0, "{}\n{}", init.stdout, init.stderr);
    let after = snapshot(&c);
    let written: std::collections::BTreeSet<String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(
        listed, written,
        "plan listed (left) what init wrote (right)\nplan:\n{}",
        plan.stdout
    );
    // Every update in the request log is to a listed object, the lock, the state or an Event.
    for w in &c.writes()[log_start..] {
        let name = w.rsplit('/').next().unwrap_or_default();
        let bookkeeping =
            w.contains("/leases") || w.contains("/events") || name.starts_with("canary-gate.");
        let create = w.starts_with("POST ");
        assert!(
            bookkeeping || create || listed.iter().any(|o| o.ends_with(&format!("/{name}"))),
            "init wrote {w}, which plan did not list"
        );
    }

    // Once initialized, plan lists nothing more to create or change, and init writes none.
    let again = c.canary_gate(&["plan", "--canary", spec]);
    assert_eq!(
        planned(&again.stdout),
        Default::default(),
        "{}",
        again.stdout
    );
    assert_eq!(c.init(spec, &[]).code, 0);
    assert_eq!(snapshot(&c), after, "a second init changed objects");
    listed
}
