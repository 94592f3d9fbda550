//! The apex, `-primary` and `-canary` Services exactly as Flagger's `KubernetesDefaultRouter`
//! builds them (reference §3.9): pure renders, one reconcile rule, each Service as an init step.

use crate::k8s::desired::Desired;
use crate::k8s::{MANAGED_BY, OWNER_ANNOTATION};
use crate::rollout::{canary_name, primary_name};
use crate::spec::model::{Metadata, PortRef, Service as ServiceSpec, TrafficDistribution};
use k8s_openapi::api::core::v1::{PodSpec, Service, ServicePort, ServiceSpec as K8sServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

/// Which of the three Services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// `<svc>`: the address clients use; selects the primary pods.
    Apex,
    /// `<svc>-primary`: selects the primary pods.
    Primary,
    /// `<svc>-canary`: selects the target (canary) pods.
    Canary,
}

/// What the renders need.
pub struct Inputs<'a> {
    /// Namespace.
    pub namespace: &'a str,
    /// `<namespace>/<canary>`.
    pub owner: &'a str,
    /// `spec.service`.
    pub service: &'a ServiceSpec,
    /// The selector label key (§3.1).
    pub key: &'a str,
    /// Its value on the target.
    pub value: &'a str,
    /// Ports found by port discovery (empty when it is off).
    pub discovered: Vec<ServicePort>,
}

impl<'a> Inputs<'a> {
    /// The inputs for a target whose pods run `pod` (ports discovered when the spec asks).
    pub fn new(
        namespace: &'a str,
        owner: &'a str,
        service: &'a ServiceSpec,
        key: &'a str,
        value: &'a str,
        pod: &PodSpec,
    ) -> Inputs<'a> {
        Inputs {
            namespace,
            owner,
            service,
            key,
            value,
            discovered: if service.port_discovery {
                discover_ports(pod, service)
            } else {
                Vec::new()
            },
        }
    }
}

/// Port discovery (§3.9): every container port except the service's own target port, from all
/// containers but `istio-proxy` and `envoy`.
pub fn discover_ports(pod: &PodSpec, service: &ServiceSpec) -> Vec<ServicePort> {
    let mut out = Vec::new();
    for c in pod
        .containers
        .iter()
        .filter(|c| c.name != "istio-proxy" && c.name != "envoy")
    {
        for (i, p) in c.ports.iter().flatten().enumerate() {
            let excluded = match &service.target_port {
                PortRef::Number(n) => p.container_port == i32::from(*n),
                PortRef::Name(n) => p.name.as_deref() == Some(n.as_str()),
            };
            if excluded {
                continue;
            }
            out.push(ServicePort {
                name: Some(
                    p.name
                        .clone()
                        .unwrap_or_else(|| format!("tcp-{}-{i}", c.name)),
                ),
                protocol: Some("TCP".into()),
                port: p.container_port,
                target_port: Some(IntOrString::Int(p.container_port)),
                ..ServicePort::default()
            });
        }
    }
    out
}

/// The Service canary-gate wants (for a new object; see [`reconcile`] for existing ones).
pub fn render(inputs: &Inputs<'_>, which: Which) -> Service {
    let svc = inputs.service;
    let (name, selector_value, meta) = match which {
        Which::Apex => (svc.name.clone(), primary_name(inputs.value), &svc.apex),
        Which::Primary => (
            primary_name(&svc.name),
            primary_name(inputs.value),
            &svc.primary,
        ),
        Which::Canary => (
            canary_name(&svc.name),
            inputs.value.to_string(),
            &svc.canary,
        ),
    };
    let mut ports = vec![ServicePort {
        name: Some(svc.port_name.clone()),
        protocol: Some("TCP".into()),
        port: i32::from(svc.port),
        target_port: Some(match &svc.target_port {
            PortRef::Number(n) => IntOrString::Int(i32::from(*n)),
            PortRef::Name(n) => IntOrString::String(n.clone()),
        }),
        app_protocol: svc.app_protocol.clone(),
        ..ServicePort::default()
    }];
    ports.extend(inputs.discovered.iter().cloned());
    let mut labels = meta.labels.clone();
    labels.insert(inputs.key.to_string(), name.clone());
    labels
        .entry(MANAGED_BY.0.to_string())
        .or_insert_with(|| MANAGED_BY.1.to_string());
    let mut annotations = meta.annotations.clone();
    annotations.insert(OWNER_ANNOTATION.to_string(), inputs.owner.to_string());
    Service {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(inputs.namespace.to_string()),
            labels: Some(labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec: Some(K8sServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(BTreeMap::from([(inputs.key.to_string(), selector_value)])),
            ports: Some(ports),
            cluster_ip: svc.headless.then(|| "None".to_string()),
            traffic_distribution: svc.traffic_distribution.map(|t| {
                match t {
                    TrafficDistribution::PreferClose => "PreferClose",
                    TrafficDistribution::PreferSameZone => "PreferSameZone",
                    TrafficDistribution::PreferSameNode => "PreferSameNode",
                }
                .to_string()
            }),
            ..K8sServiceSpec::default()
        }),
        status: None,
    }
}

fn sorted_ports(ports: &[ServicePort]) -> Vec<ServicePort> {
    let mut p = ports.to_vec();
    p.sort_by(|a, b| (a.port, &a.name).cmp(&(b.port, &b.name)));
    p
}

/// Whether a Service carries canary-gate's ownership annotation for this canary.
pub fn owned(svc: &Service, owner: &str) -> bool {
    super::owned::owned_by(&svc.metadata, owner)
}

/// `reconcileService` for an existing Service: ports (keeping NodePorts, compared as a set) and
/// selector always; labels and annotations only on Services this canary owns, keeping the
/// `unmanagedMetadata` keys. `None` when nothing needs to change.
pub fn reconcile(
    existing: &Service,
    desired: &Service,
    owner: &str,
    unmanaged: &Metadata,
) -> Option<Service> {
    let mut next = existing.clone();
    let want = desired.spec.clone().unwrap_or_default();
    let spec = next.spec.get_or_insert_with(K8sServiceSpec::default);
    let current_ports = spec.ports.clone().unwrap_or_default();
    let mut ports = want.ports.clone().unwrap_or_default();
    for p in &mut ports {
        if let Some(node_port) = current_ports
            .iter()
            .find(|c| c.name == p.name)
            .and_then(|c| c.node_port)
            .filter(|n| *n > 0)
        {
            p.node_port = Some(node_port);
        }
    }
    if sorted_ports(&current_ports) != sorted_ports(&ports) {
        spec.ports = Some(ports);
    }
    if spec.selector != want.selector {
        spec.selector = want.selector.clone();
    }
    if owned(existing, owner) {
        let keep = |current: &Option<BTreeMap<String, String>>,
                    desired: &Option<BTreeMap<String, String>>,
                    keys: &BTreeMap<String, String>| {
            let mut out = desired.clone().unwrap_or_default();
            for k in keys.keys() {
                if let Some(v) = current.as_ref().and_then(|c| c.get(k)) {
                    out.insert(k.clone(), v.clone());
                }
            }
            Some(out)
        };
        next.metadata.labels = keep(
            &existing.metadata.labels,
            &desired.metadata.labels,
            &unmanaged.labels,
        );
        next.metadata.annotations = keep(
            &existing.metadata.annotations,
            &desired.metadata.annotations,
            &unmanaged.annotations,
        );
    }
    (next != *existing).then_some(next)
}

/// The `unmanagedMetadata` keys of `spec.service` (values unused).
pub fn unmanaged(service: &ServiceSpec) -> Metadata {
    let keys = |list: &[String]| list.iter().map(|k| (k.clone(), String::new())).collect();
    Metadata {
        labels: keys(&service.unmanaged_labels),
        annotations: keys(&service.unmanaged_annotations),
    }
}

/// One of the three Services as an initialization step: created, or brought in line by
/// [`reconcile`].
pub fn desired(inputs: &Inputs<'_>, which: Which) -> Desired<'static> {
    let want = render(inputs, which);
    let name = want.metadata.name.clone().unwrap_or_default();
    let (owner, unmanaged) = (inputs.owner.to_string(), unmanaged(inputs.service));
    let when = match which {
        Which::Apex => "init, once the primary is ready",
        Which::Primary | Which::Canary => "init",
    };
    Desired::typed(
        &name,
        when,
        move |current: Option<&Service>| match current {
            None => Some(want.clone()),
            Some(cur) => reconcile(cur, &want, &owner, &unmanaged),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(v: serde_json::Value) -> Service {
        serde_json::from_value(v).unwrap()
    }

    fn desired() -> Service {
        svc(
            json!({"metadata": {"name": "podinfo-canary", "labels": {"app": "podinfo-canary"},
                                "annotations": {"canary-gate.dev/canary": "test/podinfo"}},
                   "spec": {"selector": {"app": "podinfo"}, "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 9898}]}}),
        )
    }

    #[test]
    fn owned_services_get_our_metadata_but_keep_unmanaged_keys_and_node_ports() {
        let existing = svc(json!({"metadata": {"name": "podinfo-canary",
                                               "labels": {"app": "podinfo-canary", "extra": "x", "istio.io/rev": "1-22"},
                                               "annotations": {"canary-gate.dev/canary": "test/podinfo", "cloud.google.com/neg": "{}", "old": "y"}},
                                  "spec": {"type": "NodePort", "clusterIP": "10.96.0.9", "selector": {"app": "podinfo"},
                                           "ports": [{"name": "http", "port": 8080, "protocol": "TCP", "targetPort": 9898, "nodePort": 30080}]}}));
        let unmanaged = Metadata {
            labels: [("istio.io/rev".to_string(), String::new())].into(),
            annotations: [("cloud.google.com/neg".to_string(), String::new())].into(),
        };
        let next = reconcile(&existing, &desired(), "test/podinfo", &unmanaged).expect("a change");
        let v = serde_json::to_value(&next).unwrap();
        assert_eq!(
            v["metadata"]["labels"],
            json!({"app": "podinfo-canary", "istio.io/rev": "1-22"})
        );
        assert_eq!(
            v["metadata"]["annotations"],
            json!({"canary-gate.dev/canary": "test/podinfo", "cloud.google.com/neg": "{}"})
        );
        assert_eq!(v["spec"]["ports"][0]["nodePort"], 30080);
        assert_eq!(v["spec"]["ports"][0]["port"], 80);
        assert_eq!(v["spec"]["clusterIP"], "10.96.0.9", "server fields stay");
    }

    #[test]
    fn user_services_get_only_selector_and_ports_and_equal_ones_are_left_alone() {
        let user = svc(
            json!({"metadata": {"name": "podinfo-canary", "labels": {"team": "a"}},
                              "spec": {"selector": {"app": "old"}, "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 9898}]}}),
        );
        let next = reconcile(&user, &desired(), "test/podinfo", &Metadata::default())
            .expect("selector changes");
        assert_eq!(next.metadata, user.metadata);
        assert_eq!(
            next.spec.as_ref().unwrap().selector,
            desired().spec.unwrap().selector
        );
        assert!(
            reconcile(&next, &desired(), "test/podinfo", &Metadata::default()).is_none(),
            "nothing left to change"
        );
    }
}
