//! Rules for a `Canary` document as a whole: metadata, target, provider, refs and services.

use super::names::{dns1035_label, dns1123_label, dns1123_subdomain, iana_svc_name};
use super::support::{self, ACTED_ON_PROVIDERS, ACTED_ON_TARGETS, Inferred, effective_provider};
use super::{Ctx, analysis, read_doc};
use crate::spec::diag::Diagnostic;
use crate::spec::model::*;
use crate::spec::path::FieldPath;
use crate::spec::wire::{self, CanaryDoc, IntOrString};
use std::time::Duration;

/// Validates one `Canary` document. `None` when it has errors (they are in `diags`).
pub fn canary(origin: Origin, diags: &mut Vec<Diagnostic>) -> Option<Canary> {
    let doc: CanaryDoc = read_doc(&origin, diags)?;
    let mut cx = Ctx::new(&origin, diags);
    let built = build(&mut cx, doc);
    let errors = cx.errors;
    match built {
        Some(parts) if errors == 0 => Some(parts.into_canary(origin)),
        _ => None,
    }
}

struct Parts {
    name: String,
    namespace: Option<String>,
    provider: Option<Provider>,
    effective_provider: Provider,
    metrics_server: Option<String>,
    target: ObjectRef,
    autoscaler: Option<Autoscaler>,
    ingress: Option<String>,
    route_ref: Option<String>,
    upstream_ref: Option<(Option<String>, String)>,
    mesh: Option<String>,
    service: Option<Service>,
    analysis: Analysis,
    progress_deadline: Duration,
    skip_analysis: bool,
    revert_on_deletion: bool,
    suspend: bool,
}

impl Parts {
    fn into_canary(self, origin: Origin) -> Canary {
        Canary {
            origin,
            name: self.name,
            namespace: self.namespace,
            provider: self.provider,
            effective_provider: self.effective_provider,
            metrics_server: self.metrics_server,
            target: self.target,
            autoscaler: self.autoscaler,
            ingress: self.ingress,
            route_ref: self.route_ref,
            upstream_ref: self.upstream_ref,
            mesh: self.mesh,
            service: self.service,
            analysis: self.analysis,
            progress_deadline: self.progress_deadline,
            skip_analysis: self.skip_analysis,
            revert_on_deletion: self.revert_on_deletion,
            suspend: self.suspend,
        }
    }
}

/// `metadata.name` / `metadata.namespace` of any object.
pub(crate) fn object_name(
    cx: &mut Ctx<'_>,
    meta: &wire::ObjectMeta,
) -> Option<(String, Option<String>)> {
    let name_path = FieldPath::of(&["metadata", "name"]);
    let name = match &meta.name {
        None => {
            cx.error(&name_path, "required field is missing");
            None
        }
        Some(n) => match dns1123_subdomain(n) {
            Some(why) => {
                cx.error(
                    &name_path,
                    format!("{n:?} is not a valid object name: it {why}"),
                );
                None
            }
            None => Some(n.clone()),
        },
    };
    if let Some(ns) = &meta.namespace
        && let Some(why) = dns1123_label(ns)
    {
        cx.error(
            &FieldPath::of(&["metadata", "namespace"]),
            format!("{ns:?} is not a valid namespace: it {why}"),
        );
    }
    Some((name?, meta.namespace.clone()))
}

fn build(cx: &mut Ctx<'_>, doc: CanaryDoc) -> Option<Parts> {
    let names = object_name(cx, &doc.metadata);
    let spec_path = FieldPath::of(&["spec"]);
    let Some(spec) = doc.spec else {
        cx.error(&spec_path, "required field is missing");
        return None;
    };

    let target = target(cx, &spec_path, spec.target_ref.as_ref());
    let effective = provider(cx, &spec_path, &spec);

    let ingress = refs(cx, &spec_path, &spec, effective);
    provider_rules(cx, &spec_path, &spec, effective, target.as_ref());
    let autoscaler = autoscaler(cx, &spec_path, spec.autoscaler_ref.as_ref());

    if let Some(ms) = &spec.metrics_server {
        cx.http_url(&spec_path.key("metricsServer"), ms);
    }

    let target_name = target.as_ref().map(|t| t.name.clone());
    let service = service(
        cx,
        &spec_path,
        spec.service.as_ref(),
        target_name.as_deref(),
        effective,
    );

    service_target_name(cx, &spec_path, &spec, target.as_ref());
    let analysis = spec_analysis(cx, &spec_path, &spec, effective);

    let deadline_path = spec_path.key("progressDeadlineSeconds");
    let progress_deadline = match spec.progress_deadline_seconds {
        None => Some(Duration::from_secs(600)),
        Some(s) => cx
            .int_in(&deadline_path, s, 1, i64::from(u32::MAX))
            .map(|s| Duration::from_secs(u64::from(s))),
    };
    if spec.revert_on_deletion == Some(true) {
        cx.warn(
            &spec_path.key("revertOnDeletion"),
            "not acted on: canary-gate runs in CI and cannot react to the Canary's deletion",
        );
    }

    let (name, namespace) = names?;
    Some(Parts {
        name,
        namespace,
        provider: spec.provider,
        effective_provider: effective,
        metrics_server: spec.metrics_server,
        target: target?,
        autoscaler,
        ingress,
        route_ref: spec.route_ref.as_ref().map(|r| r.name.clone()),
        upstream_ref: (spec.upstream_ref.as_ref()).map(|r| (r.namespace.clone(), r.name.clone())),
        mesh: (doc.metadata.annotations.as_ref())
            .and_then(|a| a.get(crate::router::kuma::MESH_ANNOTATION).cloned()),
        service,
        analysis: analysis?,
        progress_deadline: progress_deadline?,
        skip_analysis: spec.skip_analysis.unwrap_or(false),
        revert_on_deletion: spec.revert_on_deletion.unwrap_or(false),
        suspend: spec.suspend.unwrap_or(false),
    })
}

/// Providers Flagger still lists whose meshes are gone, and why canary-gate will not drive them.
const RETIRED: &[(Provider, &str)] = &[
    (
        Provider::Appmesh,
        "AWS App Mesh was discontinued on 2026-09-30 (AWS points EKS users to Amazon VPC Lattice)",
    ),
    (
        Provider::AppmeshV1beta2,
        "AWS App Mesh was discontinued on 2026-09-30 (AWS points EKS users to Amazon VPC Lattice)",
    ),
    (
        Provider::Osm,
        "Open Service Mesh is archived: its maintainers ended the project in 2023",
    ),
];

/// Works out the provider canary-gate acts as, saying when it was inferred or is not driven.
fn provider(cx: &mut Ctx<'_>, spec_path: &FieldPath, spec: &wire::CanarySpec) -> Provider {
    let has_gateway_refs = spec
        .service
        .as_ref()
        .is_some_and(|s| s.gateway_refs.as_ref().is_some_and(|g| !g.is_empty()));
    let (effective, inferred) =
        effective_provider(spec.provider, spec.ingress_ref.is_some(), has_gateway_refs);
    let provider_path = spec_path.key("provider");
    match inferred {
        Some(Inferred::FromSpec(why)) => cx.notice(&provider_path, why),
        Some(Inferred::FlaggerDefault(why)) => cx.warn(&provider_path, why),
        None => {}
    }
    if let Some((_, why)) = RETIRED.iter().find(|(p, _)| *p == effective) {
        cx.warn(
            &provider_path,
            format!(
                "{}: {why}, so canary-gate does not drive it; move the route to the Gateway API (provider: gatewayapi:v1), which its successors serve",
                effective.as_str()
            ),
        );
    } else if spec.provider.is_some() && !ACTED_ON_PROVIDERS.contains(&effective) {
        cx.warn(
            &provider_path,
            format!(
                "{} is a valid Flagger provider, but canary-gate does not drive it yet (it drives: {})",
                effective.as_str(),
                support::names(ACTED_ON_PROVIDERS)
            ),
        );
    }
    effective
}

/// Validates `spec.analysis`, or its deprecated alias `spec.canaryAnalysis` when only that is set.
fn spec_analysis(
    cx: &mut Ctx<'_>,
    spec_path: &FieldPath,
    spec: &wire::CanarySpec,
    effective: Provider,
) -> Option<Analysis> {
    match (&spec.analysis, &spec.canary_analysis) {
        (Some(a), other) => {
            if other.is_some() {
                cx.warn(
                    &spec_path.key("canaryAnalysis"),
                    "ignored: spec.analysis is set (canaryAnalysis is its deprecated alias)",
                );
            }
            analysis::analysis(cx, &spec_path.key("analysis"), a, effective)
        }
        (None, Some(a)) => {
            let path = spec_path.key("canaryAnalysis");
            // Flagger's controller reads it when `analysis` is absent (`GetAnalysis`); its CRD,
            // though, requires `analysis`, so the API server refuses such a document.
            cx.warn(
                &path,
                "deprecated: rename canaryAnalysis to analysis (Flagger's CRD requires analysis, so the API server refuses this document; canary-gate reads it as Flagger's controller does)",
            );
            analysis::analysis(cx, &path, a, effective)
        }
        (None, None) => {
            cx.error(&spec_path.key("analysis"), "required field is missing");
            None
        }
    }
}

fn target(cx: &mut Ctx<'_>, spec: &FieldPath, t: Option<&wire::TargetRef>) -> Option<ObjectRef> {
    let path = spec.key("targetRef");
    let Some(t) = t else {
        cx.error(&path, "required field is missing");
        return None;
    };
    if let Some(why) = dns1123_subdomain(&t.name) {
        cx.error(
            &path.key("name"),
            format!("{:?} is not a valid object name: it {why}", t.name),
        );
        return None;
    }
    let expected = match t.kind {
        TargetKind::Deployment | TargetKind::DaemonSet => Some("apps/v1"),
        TargetKind::Service if t.api_version == "serving.knative.dev/v1" => None,
        TargetKind::Service => Some("v1"),
    };
    if let Some(expected) = expected
        && t.api_version != expected
    {
        cx.warn(
            &path.key("apiVersion"),
            format!(
                "{:?} does not serve {}; canary-gate reads it through {expected}",
                t.api_version,
                kind_name(t.kind)
            ),
        );
    }
    if !ACTED_ON_TARGETS.contains(&t.kind) {
        cx.warn(
            &path.key("kind"),
            format!(
                "{} is a valid Flagger target, but canary-gate drives only {} yet",
                kind_name(t.kind),
                ACTED_ON_TARGETS
                    .iter()
                    .map(|k| kind_name(*k))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    Some(ObjectRef {
        api_version: t.api_version.clone(),
        kind: t.kind,
        name: t.name.clone(),
    })
}

fn kind_name(k: TargetKind) -> &'static str {
    match k {
        TargetKind::Deployment => "Deployment",
        TargetKind::DaemonSet => "DaemonSet",
        TargetKind::Service => "Service",
    }
}

/// `ingressRef`, `routeRef`, `upstreamRef`: required where the provider needs them, noted where
/// it does not read them.
fn refs(cx: &mut Ctx<'_>, spec: &FieldPath, s: &wire::CanarySpec, p: Provider) -> Option<String> {
    let path = spec.key("ingressRef");
    let needs_ingress = matches!(p, Provider::Nginx | Provider::Skipper);
    let ingress = match &s.ingress_ref {
        None if needs_ingress => {
            cx.error(
                &path,
                format!("required by provider {}: the Ingress to split", p.as_str()),
            );
            None
        }
        None => None,
        Some(r) => {
            if !needs_ingress {
                cx.warn(
                    &path,
                    format!(
                        "ignored: provider {} does not route through an Ingress",
                        p.as_str()
                    ),
                );
            }
            if r.kind != "Ingress" {
                cx.error(
                    &path.key("kind"),
                    format!("{:?} is not supported: must be Ingress", r.kind),
                );
            }
            if r.api_version != "networking.k8s.io/v1" {
                cx.warn(
                    &path.key("apiVersion"),
                    format!(
                        "{:?} is no longer served; the Ingress is read through networking.k8s.io/v1",
                        r.api_version
                    ),
                );
            }
            if let Some(why) = dns1123_subdomain(&r.name) {
                cx.error(
                    &path.key("name"),
                    format!("{:?} is not a valid object name: it {why}", r.name),
                );
            }
            Some(r.name.clone())
        }
    };
    if s.route_ref.is_some() && p != Provider::Apisix {
        cx.warn(
            &spec.key("routeRef"),
            "ignored: only provider apisix reads routeRef",
        );
    }
    if s.route_ref.is_none() && p == Provider::Apisix {
        cx.error(&spec.key("routeRef"), "required by provider apisix");
    }
    if s.upstream_ref.is_some() && p != Provider::Gloo {
        cx.warn(
            &spec.key("upstreamRef"),
            "ignored: only provider gloo reads upstreamRef",
        );
    }
    ingress
}

/// A core Service target's copies are named after the target (`<target>-primary`,
/// `<target>-canary`) while the routes use `service.name`: they must be the same name, or the
/// routes point at Services nobody creates.
fn service_target_name(
    cx: &mut Ctx<'_>,
    spec: &FieldPath,
    s: &wire::CanarySpec,
    t: Option<&ObjectRef>,
) {
    let Some(t) = t.filter(|t| t.kind == TargetKind::Service && t.api_version == "v1") else {
        return;
    };
    if let Some(name) = s.service.as_ref().and_then(|s| s.name.as_ref())
        && *name != t.name
    {
        cx.error(
            &spec.key("service").key("name"),
            format!(
                "{name:?} differs from the Service target {:?}: its copies are {0}-primary and {0}-canary, which the routes must use (leave service.name out)",
                t.name
            ),
        );
    }
}

/// Flagger's `verifyCanary` consistency rules and the Gateway API requirement.
fn provider_rules(
    cx: &mut Ctx<'_>,
    spec: &FieldPath,
    s: &wire::CanarySpec,
    p: Provider,
    t: Option<&ObjectRef>,
) {
    let knative_target = t.is_some_and(|t| {
        t.kind == TargetKind::Service && t.api_version == "serving.knative.dev/v1"
    });
    if knative_target && p != Provider::Knative {
        cx.error(
            &spec.key("provider"),
            "a Knative Service target needs provider: knative",
        );
    }
    if !knative_target && p == Provider::Knative {
        cx.error(
            &spec.key("targetRef"),
            "provider knative needs a Knative Service target (apiVersion: serving.knative.dev/v1, kind: Service)",
        );
    }
    if knative_target && s.autoscaler_ref.is_some() {
        cx.error(
            &spec.key("autoscalerRef"),
            "a Knative Service target cannot have an autoscalerRef",
        );
    }
    let gateway = matches!(p, Provider::GatewayApiV1 | Provider::GatewayApiV1beta1);
    let refs_empty = s
        .service
        .as_ref()
        .is_none_or(|svc| svc.gateway_refs.as_ref().is_none_or(Vec::is_empty));
    if gateway && refs_empty {
        cx.error(
            &spec.key("service").key("gatewayRefs"),
            format!(
                "required by provider {}: the Gateway(s) the HTTPRoute attaches to",
                p.as_str()
            ),
        );
    }
}

fn autoscaler(
    cx: &mut Ctx<'_>,
    spec: &FieldPath,
    a: Option<&wire::AutoscalerRef>,
) -> Option<Autoscaler> {
    let a = a?;
    let path = spec.key("autoscalerRef");
    if a.kind == AutoscalerKind::HorizontalPodAutoscaler && a.api_version != "autoscaling/v2" {
        cx.warn(
            &path.key("apiVersion"),
            format!(
                "{:?}: the HorizontalPodAutoscaler is read and copied through autoscaling/v2",
                a.api_version
            ),
        );
    }
    if a.kind == AutoscalerKind::ScaledObject {
        cx.warn(
            &path.key("kind"),
            "ScaledObject is valid, but canary-gate copies only HorizontalPodAutoscalers yet",
        );
    }
    if a.primary_scaler_queries.is_some() {
        cx.warn(
            &path.key("primaryScalerQueries"),
            "not acted on: used only with KEDA ScaledObjects",
        );
    }
    let reps = path.key("primaryScalerReplicas");
    let bounds = a.primary_scaler_replicas.as_ref();
    let min = bounds
        .and_then(|r| r.min_replicas)
        .and_then(|v| cx.int_in(&reps.key("minReplicas"), v, 1, i64::from(i32::MAX)));
    let max = bounds
        .and_then(|r| r.max_replicas)
        .and_then(|v| cx.int_in(&reps.key("maxReplicas"), v, 1, i64::from(i32::MAX)));
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        cx.error(
            &reps.key("minReplicas"),
            format!("{lo} is greater than maxReplicas {hi}"),
        );
    }
    Some(Autoscaler {
        api_version: a.api_version.clone(),
        kind: a.kind,
        name: a.name.clone(),
        primary_min_replicas: min,
        primary_max_replicas: max,
    })
}

fn service(
    cx: &mut Ctx<'_>,
    spec: &FieldPath,
    s: Option<&wire::ServiceSpec>,
    target: Option<&str>,
    p: Provider,
) -> Option<Service> {
    let path = spec.key("service");
    let Some(s) = s else {
        if p != Provider::Knative {
            cx.error(&path, "required field is missing (canary-gate creates the apex, -primary and -canary Services from it)");
        }
        return None;
    };
    let port = match s.port {
        None => {
            cx.error(&path.key("port"), "required field is missing");
            None
        }
        Some(v) => cx.int_in(&path.key("port"), v, 1, 65535).map(|v| v as u16),
    };
    let name = service_name(cx, spec, &path, s, target);
    let port_name = s.port_name.clone().unwrap_or_else(|| "http".into());
    if let Some(why) = dns1123_label(&port_name) {
        cx.error(
            &path.key("portName"),
            format!("{port_name:?} is not a valid port name: it {why}"),
        );
    }
    let target_port = target_port(cx, &path, s, port);
    let timeout = s
        .timeout
        .as_ref()
        .and_then(|t| cx.duration(&path.key("timeout"), t));
    let backend_timeout = s
        .backend_timeout
        .as_ref()
        .and_then(|t| cx.duration(&path.key("backendTimeout"), t));
    if let Some(m) = &s.matches {
        for (i, m) in m.iter().enumerate() {
            analysis::string_matches(cx, &path.key("match").index(i), m);
        }
    }
    routing_option_warnings(cx, &path, s, p);
    delegation(cx, &path, s, p);
    super::filters::check(cx, &path, s, p);
    let unmanaged = s.unmanaged_metadata.clone().unwrap_or_default();
    Some(Service {
        name: name?,
        port: port?,
        port_name,
        target_port: target_port?,
        app_protocol: s.app_protocol.clone(),
        traffic_distribution: s.traffic_distribution,
        port_discovery: s.port_discovery.unwrap_or(false),
        headless: s.headless.unwrap_or(false),
        gateway_refs: s.gateway_refs.clone().unwrap_or_default(),
        hosts: s.hosts.clone().unwrap_or_default(),
        matches: s.matches.clone().unwrap_or_default(),
        timeout,
        backend_timeout,
        headers: s.headers.clone(),
        rewrite: s.rewrite.clone(),
        cors: s.cors_policy.clone(),
        mirror: s.mirror.clone().unwrap_or_default(),
        gateways: s.gateways.clone().unwrap_or_default(),
        retries: s.retries.clone(),
        traffic_policy: s.traffic_policy.clone(),
        delegation: s.delegation.unwrap_or(false),
        apex: metadata(s.apex.as_ref()),
        primary: metadata(s.primary.as_ref()),
        canary: metadata(s.canary.as_ref()),
        unmanaged_labels: unmanaged.labels.unwrap_or_default(),
        unmanaged_annotations: unmanaged.annotations.unwrap_or_default(),
    })
}

/// The Services' base name (`service.name`, else the target's name), checked so that
/// `<name>-primary` is a valid Service name.
fn service_name(
    cx: &mut Ctx<'_>,
    spec: &FieldPath,
    path: &FieldPath,
    s: &wire::ServiceSpec,
    target: Option<&str>,
) -> Option<String> {
    let name = match (&s.name, target) {
        (Some(n), _) => Some(n.clone()),
        (None, Some(t)) => Some(t.to_string()),
        (None, None) => None,
    };
    if let Some(n) = &name
        && let Some(why) = dns1035_label(&crate::rollout::primary_name(n))
    {
        let (at, what) = match s.name {
            Some(_) => (path.key("name"), String::new()),
            None => (
                spec.key("targetRef").key("name"),
                " (the default service name)".to_string(),
            ),
        };
        cx.error(
            &at,
            format!("{n:?}{what} cannot name Services: \"{n}-primary\" {why}"),
        );
    }
    name
}

/// Validates `service.targetPort` (a port number or a container port name), defaulting to `port`.
fn target_port(
    cx: &mut Ctx<'_>,
    path: &FieldPath,
    s: &wire::ServiceSpec,
    port: Option<u16>,
) -> Option<PortRef> {
    match &s.target_port {
        None => port.map(PortRef::Number),
        Some(IntOrString::Int(v)) => cx
            .int_in(&path.key("targetPort"), *v, 1, 65535)
            .map(|v| PortRef::Number(v as u16)),
        Some(IntOrString::Str(n)) => match iana_svc_name(n) {
            Some(why) => {
                cx.error(
                    &path.key("targetPort"),
                    format!("{n:?} is not a valid container port name: it {why}"),
                );
                None
            }
            None => Some(PortRef::Name(n.clone())),
        },
    }
}

fn metadata(m: Option<&wire::CustomMetadata>) -> Metadata {
    m.map(|m| Metadata {
        labels: m.labels.clone().unwrap_or_default(),
        annotations: m.annotations.clone().unwrap_or_default(),
    })
    .unwrap_or_default()
}

/// Flagger refuses a delegate VirtualService with hosts or gateways (a delegate has neither).
fn delegation(cx: &mut Ctx<'_>, path: &FieldPath, s: &wire::ServiceSpec, p: Provider) {
    let set = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|v| !v.is_empty());
    if p == Provider::Istio && s.delegation == Some(true) && (set(&s.hosts) || set(&s.gateways)) {
        cx.error(
            &path.key("delegation"),
            "a delegate VirtualService cannot have hosts or gateways (Flagger refuses it too): remove service.hosts and service.gateways, or delegation",
        );
    }
}

/// Routing options that the chosen provider does not read (Flagger ignores them too; we say so).
fn routing_option_warnings(cx: &mut Ctx<'_>, path: &FieldPath, s: &wire::ServiceSpec, p: Provider) {
    let present: [(&str, bool); 15] = [
        ("gatewayRefs", s.gateway_refs.is_some()),
        ("backendTimeout", s.backend_timeout.is_some()),
        ("hosts", s.hosts.is_some()),
        ("match", s.matches.is_some()),
        ("timeout", s.timeout.is_some()),
        ("headers", s.headers.is_some()),
        ("rewrite", s.rewrite.is_some()),
        ("mirror", s.mirror.is_some()),
        ("corsPolicy", s.cors_policy.is_some()),
        ("gateways", s.gateways.is_some()),
        ("retries", s.retries.is_some()),
        ("delegation", s.delegation.is_some()),
        ("trafficPolicy", s.traffic_policy.is_some()),
        ("meshName", s.mesh_name.is_some()),
        ("backends", s.backends.is_some()),
    ];
    for (field, set) in present {
        let users = support::service_field_users(field);
        if set && !users.contains(&p) {
            cx.warn(
                &path.key(field),
                format!(
                    "ignored by provider {}: only {} read it",
                    p.as_str(),
                    support::names(users)
                ),
            );
        }
    }
}
