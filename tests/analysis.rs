//! Analysis against a real Prometheus scraping the simulator: built-in NGINX checks promote a
//! healthy canary and roll back errors and latency, no traffic is "no data", a MetricTemplate with
//! variables is rendered and evaluated, an unreachable server is reported and fails the checks.

use crate::canary::canary;
use crate::cluster::Cluster;
use canary_gate_sim::prometheus::Prometheus;
use serde_json::{Value, json};

/// The fixture app under traffic with a real Prometheus scraping the simulator.
struct Scraped {
    c: Cluster,
    prom: Option<Prometheus>,
    dir: tempfile::TempDir,
}

/// The fixture app with `canary` annotations on the pod template (the new revision's behaviour
/// is set later), Prometheus scraping the simulator, and a few samples in.
fn lab() -> Option<Scraped> {
    let c = Cluster::new();
    c.podinfo_with_traffic();
    let prom = c.prometheus()?;
    Some(Scraped {
        c,
        prom: Some(prom),
        dir: tempfile::tempdir().unwrap(),
    })
}

impl Scraped {
    fn url(&self) -> String {
        self.prom
            .as_ref()
            .map(|p| p.url.clone())
            .unwrap_or_default()
    }

    fn spec(&self, metrics: &str, extra_docs: &str) -> String {
        let canary = canary("podinfo")
            .nginx()
            .interval("2s")
            .threshold(4)
            .step_weight(25)
            .max_weight(50)
            .analysis("metrics:")
            .yaml();
        let text = format!("{extra_docs}{canary}{metrics}");
        Cluster::spec_file(&self.dir, &text)
    }

    /// A new revision that behaves as the annotations say.
    fn release(&self, annotations: Value) {
        let patch = json!({"spec": {"template": {"metadata": {"annotations": annotations}}}});
        self.c.patch_deployment("podinfo", &patch);
    }
}

const BUILTINS: &str = "      - name: request-success-rate\n        interval: 15s\n        thresholdRange: {min: 99}\n      - name: request-duration\n        interval: 15s\n        thresholdRange: {max: 100}\n";

#[test]
fn a_healthy_canary_is_promoted_by_the_builtin_checks() {
    let Some(lab) = lab() else { return };
    let spec = lab.spec(BUILTINS, "");
    let r = {
        let init = lab.c.canary_gate(&["init", "--canary", &spec]);
        assert_eq!(init.code, 0, "{}", init.stderr);
        lab.release(json!({"canary-gate.dev/sim-latency-ms": "20", "release": "2"}));
        lab.c
            .canary_gate(&["run", "--canary", &spec, "--metrics-server", &lab.url()])
    };
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Promotion completed!"), "{}", r.stdout);
    assert!(
        r.stderr.contains("request-success-rate = 100.00"),
        "the value is reported: {}",
        r.stderr
    );
}

#[test]
fn errors_roll_back_with_the_metric_value_and_range() {
    let Some(lab) = lab() else { return };
    let spec = lab.spec(BUILTINS, "");
    let init = lab.c.canary_gate(&["init", "--canary", &spec]);
    assert_eq!(init.code, 0, "{}", init.stderr);
    lab.release(
        json!({"canary-gate.dev/sim-error-rate": "0.2", "canary-gate.dev/sim-latency-ms": "20"}),
    );
    let r = lab
        .c
        .canary_gate(&["run", "--canary", &spec, "--metrics-server", &lab.url()]);
    assert_eq!(r.code, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("halt advancement: request-success-rate"))
        .expect("the failing metric is named");
    let value: f64 = line
        .split_whitespace()
        .rev()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (70.0..90.0).contains(&value) && line.ends_with("< 99"),
        "value and range: {line}"
    );
    assert!(
        r.stdout.contains("failed checks threshold reached 4"),
        "{}",
        r.stdout
    );
    assert_eq!(
        lab.c.get("apps/v1", "Deployment", "podinfo")["spec"]["replicas"],
        0
    );
}

#[test]
fn latency_rolls_back_with_the_metric_value_and_range() {
    let Some(lab) = lab() else { return };
    let spec = lab.spec(BUILTINS, "");
    let init = lab.c.canary_gate(&["init", "--canary", &spec]);
    assert_eq!(init.code, 0, "{}", init.stderr);
    lab.release(
        json!({"canary-gate.dev/sim-error-rate": "0", "canary-gate.dev/sim-latency-ms": "400"}),
    );
    let r = lab
        .c
        .canary_gate(&["run", "--canary", &spec, "--metrics-server", &lab.url()]);
    assert_eq!(r.code, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("halt advancement: request-duration"))
        .expect("the failing metric is named");
    let value: f64 = line
        .split_whitespace()
        .rev()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (320.0..=480.0).contains(&value) && line.ends_with("> 100"),
        "value and range: {line}"
    );
}

#[test]
fn no_traffic_is_no_data_and_a_template_with_variables_is_evaluated() {
    let Some(lab) = lab() else { return };
    let template = "apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {name: status-rate, namespace: test}\nspec:\n  provider: {type: prometheus}\n  query: |\n    sum(rate(nginx_ingress_controller_requests{namespace=\"{{ namespace }}\",ingress=\"{{ ingress }}\",canary!=\"\",status=\"{{ variables.status }}\"}[{{ interval }}]))\n---\n";
    let metrics = "      - name: server-errors\n        templateRef: {name: status-rate}\n        templateVariables: {status: \"500\"}\n        interval: 15s\n        thresholdRange: {max: 0}\n";
    let spec = lab.spec(metrics, template);
    let init = lab.c.canary_gate(&["init", "--canary", &spec]);
    assert_eq!(init.code, 0, "{}", init.stderr);
    // No 500s at all: the template's query has no series → "no values found", a failed check.
    lab.release(json!({"release": "quiet"}));
    let r = lab
        .c
        .canary_gate(&["run", "--canary", &spec, "--metrics-server", &lab.url()]);
    assert_eq!(r.code, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("no values found for custom metric server-errors"),
        "{}",
        r.stdout
    );
    // With 500s the rendered query has data and the range decides.
    lab.release(json!({"canary-gate.dev/sim-error-rate": "0.5"}));
    let r = lab
        .c
        .canary_gate(&["run", "--canary", &spec, "--metrics-server", &lab.url()]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("halt advancement: server-errors"),
        "{}",
        r.stdout
    );
}

#[test]
fn an_unreachable_prometheus_is_reported_and_fails_the_checks() {
    let c = Cluster::new();
    c.podinfo(|o| {
        if o["kind"] == "HorizontalPodAutoscaler" {
            o["metadata"]["name"] = json!("unrelated");
        }
    });
    let lab = Scraped {
        c,
        prom: None,
        dir: tempfile::tempdir().unwrap(),
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spec = lab.spec(BUILTINS, "");
    let init = lab.c.canary_gate(&["init", "--canary", &spec]);
    assert_eq!(init.code, 0, "{}", init.stderr);
    lab.release(json!({"release": "2"}));
    let r = lab.c.canary_gate(&[
        "run",
        "--canary",
        &spec,
        "--metrics-server",
        &format!("http://127.0.0.1:{port}"),
    ]);
    assert_eq!(r.code, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let warning = r
        .stdout
        .find(&format!(
            "metrics server http://127.0.0.1:{port}/ is not answering"
        ))
        .expect("reported at start");
    let first_step = r
        .stdout
        .find("Advance podinfo.test canary weight")
        .unwrap_or(usize::MAX);
    assert!(
        warning < first_step,
        "reported before the first traffic step:\n{}",
        r.stdout
    );
    assert!(r.stdout.contains("query failed"), "{}", r.stdout);
}
