//! What a real API server adds and refuses: defaults (Service clusterIP and port protocol,
//! Deployment replicas and strategy, ...) and the validation rules clients trip over (names,
//! label values, a Deployment's selector, immutable fields).

use crate::resources::Resource;
use crate::status::ApiError;
use serde_json::{Value, json};

fn set_default(obj: &mut Value, key: &str, value: Value) {
    if let Some(map) = obj.as_object_mut() {
        map.entry(key.to_string()).or_insert(value);
    }
}

/// Fills in server-side defaults. `old` is the stored object on updates.
pub fn apply(res: &Resource, obj: &mut Value, old: Option<&Value>) {
    // Custom resources get no built-in defaults (a Knative Service is not a core Service).
    if !res.builtin {
        return;
    }
    match res.kind {
        "Service" => service(obj, old),
        "Deployment" => deployment(obj),
        "DaemonSet" => daemonset(obj),
        "Namespace" => {
            obj["status"] = json!({"phase": "Active"});
        }
        "Secret" => secret(obj),
        "Ingress" if !obj["status"]["loadBalancer"].is_object() => {
            obj["status"]["loadBalancer"] = json!({});
        }
        // What the API server stores for an HPA no controller has looked at yet.
        "HorizontalPodAutoscaler" if !obj["status"].is_object() => {
            obj["status"] = json!({"currentMetrics": null, "desiredReplicas": 0});
        }
        _ => {}
    }
}

/// `stringData` is write-only: merged into `data` (base64) and dropped, as the API server does.
fn secret(obj: &mut Value) {
    let Some(string_data) = obj.as_object_mut().and_then(|o| o.remove("stringData")) else {
        return;
    };
    set_default(obj, "type", json!("Opaque"));
    if !obj["data"].is_object() {
        obj["data"] = json!({});
    }
    for (k, v) in string_data.as_object().into_iter().flatten() {
        obj["data"][k] = json!(base64(v.as_str().unwrap_or_default().as_bytes()));
    }
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn service(obj: &mut Value, old: Option<&Value>) {
    let spec = &mut obj["spec"];
    if !spec.is_object() {
        *spec = json!({});
    }
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
    set_default(spec, "ipFamilies", json!(["IPv4"]));
    let ip = old
        .and_then(|o| o["spec"]["clusterIP"].as_str().map(str::to_string))
        .unwrap_or_else(|| cluster_ip(obj["metadata"]["uid"].as_str().unwrap_or("")));
    let spec = &mut obj["spec"];
    set_default(spec, "clusterIP", json!(ip));
    let ip = spec["clusterIP"].clone();
    set_default(spec, "clusterIPs", json!([ip]));
    if let Some(ports) = spec["ports"].as_array_mut() {
        for p in ports {
            set_default(p, "protocol", json!("TCP"));
            let port = p["port"].clone();
            set_default(p, "targetPort", port);
        }
    }
    set_default(obj, "status", json!({"loadBalancer": {}}));
}

fn cluster_ip(uid: &str) -> String {
    let h = uid
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("10.96.{}.{}", (h >> 8) % 256, (h % 254) + 1)
}

fn deployment(obj: &mut Value) {
    let spec = &mut obj["spec"];
    if !spec.is_object() {
        return;
    }
    set_default(spec, "replicas", json!(1));
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(spec, "progressDeadlineSeconds", json!(600));
    set_default(spec, "strategy", json!({"type": "RollingUpdate"}));
    if spec["strategy"]["type"] == "RollingUpdate" {
        let rolling = &mut spec["strategy"]["rollingUpdate"];
        if !rolling.is_object() {
            *rolling = json!({});
        }
        set_default(rolling, "maxUnavailable", json!("25%"));
        set_default(rolling, "maxSurge", json!("25%"));
    }
    pod_template(&mut spec["template"]["spec"]);
}

fn daemonset(obj: &mut Value) {
    let spec = &mut obj["spec"];
    if !spec.is_object() {
        return;
    }
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(spec, "updateStrategy", json!({"type": "RollingUpdate"}));
    if spec["updateStrategy"]["type"] == "RollingUpdate" {
        let rolling = &mut spec["updateStrategy"]["rollingUpdate"];
        if !rolling.is_object() {
            *rolling = json!({});
        }
        set_default(rolling, "maxUnavailable", json!(1));
        set_default(rolling, "maxSurge", json!(0));
    }
    pod_template(&mut spec["template"]["spec"]);
}

/// A workload's pod template spec, defaulted as the API server defaults it.
fn pod_template(pod: &mut Value) {
    if pod.is_object() {
        // ConfigMap and Secret volumes: files readable by all (0644), as the API defaults them.
        for v in pod["volumes"].as_array_mut().into_iter().flatten() {
            for source in ["configMap", "secret"] {
                if v[source].is_object() {
                    set_default(&mut v[source], "defaultMode", json!(420));
                }
            }
        }
        set_default(pod, "restartPolicy", json!("Always"));
        set_default(pod, "terminationGracePeriodSeconds", json!(30));
        set_default(pod, "dnsPolicy", json!("ClusterFirst"));
        set_default(pod, "schedulerName", json!("default-scheduler"));
        set_default(pod, "securityContext", json!({}));
        if let Some(containers) = pod["containers"].as_array_mut() {
            for c in containers {
                let latest = c["image"]
                    .as_str()
                    .is_some_and(|i| i.ends_with(":latest") || !i.contains(':'));
                set_default(
                    c,
                    "imagePullPolicy",
                    json!(if latest { "Always" } else { "IfNotPresent" }),
                );
                set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
                set_default(c, "terminationMessagePolicy", json!("File"));
                set_default(c, "resources", json!({}));
                if let Some(ports) = c["ports"].as_array_mut() {
                    for p in ports {
                        set_default(p, "protocol", json!("TCP"));
                    }
                }
            }
        }
    }
}

/// Why an object is refused (422), if it is.
pub fn validate(res: &Resource, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    let invalid = |why: String| ApiError::invalid(res, name, why);
    if let Some(why) = subdomain(name) {
        return Err(invalid(format!(
            "metadata.name: Invalid value: {name:?}: {why}"
        )));
    }
    for (k, v) in obj["metadata"]["labels"].as_object().into_iter().flatten() {
        let value = v.as_str().unwrap_or("");
        if let Some(why) = label_value(value) {
            return Err(invalid(format!(
                "metadata.labels: Invalid value: {value:?}: {why} (key {k:?})"
            )));
        }
    }
    if !res.builtin {
        return Ok(());
    }
    match res.kind {
        "Deployment" => {
            let selector = &obj["spec"]["selector"]["matchLabels"];
            let labels = &obj["spec"]["template"]["metadata"]["labels"];
            let Some(sel) = selector.as_object().filter(|m| !m.is_empty()) else {
                return Err(invalid("spec.selector: Required value".into()));
            };
            for (k, v) in sel {
                if labels.get(k) != Some(v) {
                    return Err(invalid(
                        "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`".into(),
                    ));
                }
            }
            if let Some(old) = old
                && old["spec"]["selector"] != obj["spec"]["selector"]
            {
                return Err(invalid(
                    "spec.selector: Invalid value: field is immutable".into(),
                ));
            }
            let deadline = obj["spec"]["progressDeadlineSeconds"].as_i64();
            let min_ready = obj["spec"]["minReadySeconds"].as_i64().unwrap_or(0);
            if let Some(d) = deadline.filter(|d| *d <= min_ready) {
                return Err(invalid(format!(
                    "spec.progressDeadlineSeconds: Invalid value: {d}: must be greater than minReadySeconds"
                )));
            }
            if obj["spec"]["template"]["spec"]["containers"]
                .as_array()
                .is_none_or(Vec::is_empty)
            {
                return Err(invalid(
                    "spec.template.spec.containers: Required value".into(),
                ));
            }
        }
        "Service" => {
            let external = obj["spec"]["type"].as_str() == Some("ExternalName");
            if !external && obj["spec"]["ports"].as_array().is_none_or(Vec::is_empty) {
                return Err(invalid("spec.ports: Required value".into()));
            }
            if let Some(old) = old
                && old["spec"]["clusterIP"] != obj["spec"]["clusterIP"]
            {
                return Err(invalid(
                    "spec.clusterIP: Invalid value: field is immutable".into(),
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

fn subdomain(name: &str) -> Option<&'static str> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    (!ok).then_some("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'")
}

fn label_value(v: &str) -> Option<&'static str> {
    if v.is_empty() {
        return None;
    }
    let ok = v.len() <= 63
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && v.as_bytes()[0].is_ascii_alphanumeric()
        && v.as_bytes()[v.len() - 1].is_ascii_alphanumeric();
    (!ok).then_some("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', at most 63 characters")
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(super::base64(b"s3cr3t"), "czNjcjN0");
        assert_eq!(super::base64(b"ab"), "YWI=");
        assert_eq!(super::base64(b"a"), "YQ==");
    }
}
