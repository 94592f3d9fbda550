//! The kinds the simulator serves: group, version, plural, kind, scope and subresources.
//!
//! Owns the table that routing, discovery and the OpenAPI documents are built from. Adding a kind
//! is one line here. A kind served under several versions has one line per version, the first
//! (the preferred, and the one the store keys by) before the others. Must not hold objects.

/// One served resource type.
#[derive(Debug, PartialEq, Eq)]
pub struct Resource {
    /// API group (`""` for core).
    pub group: &'static str,
    /// Version.
    pub version: &'static str,
    /// URL plural.
    pub plural: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Namespaced (else cluster-scoped).
    pub namespaced: bool,
    /// Has a `status` subresource (main writes keep status; status writes keep the rest).
    pub status: bool,
    /// Has a `scale` subresource.
    pub scale: bool,
    /// Served read-only (synthesised by the simulator).
    pub read_only: bool,
    /// A built-in kind (accepts strategic merge patches); custom resources answer 415.
    pub builtin: bool,
    /// kubectl short names.
    pub short_names: &'static [&'static str],
}

impl Resource {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps` / `services`: the name in Status messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Singular lower-case name.
    pub fn singular(&self) -> String {
        self.kind.to_ascii_lowercase()
    }
}

const fn res(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    short_names: &'static [&'static str],
) -> Resource {
    Resource {
        group,
        version,
        plural,
        kind,
        namespaced: true,
        status: false,
        scale: false,
        read_only: false,
        builtin: true,
        short_names,
    }
}

/// Every served resource.
pub static RESOURCES: &[Resource] = &[
    Resource {
        namespaced: false,
        status: true,
        ..res("", "v1", "namespaces", "Namespace", &["ns"])
    },
    Resource {
        status: true,
        ..res("", "v1", "services", "Service", &["svc"])
    },
    res("", "v1", "configmaps", "ConfigMap", &["cm"]),
    res("", "v1", "secrets", "Secret", &[]),
    res("", "v1", "events", "Event", &["ev"]),
    Resource {
        read_only: true,
        status: true,
        ..res("", "v1", "pods", "Pod", &["po"])
    },
    Resource {
        status: true,
        scale: true,
        ..res("apps", "v1", "deployments", "Deployment", &["deploy"])
    },
    Resource {
        status: true,
        ..res("apps", "v1", "daemonsets", "DaemonSet", &["ds"])
    },
    Resource {
        status: true,
        ..res("networking.k8s.io", "v1", "ingresses", "Ingress", &["ing"])
    },
    res("coordination.k8s.io", "v1", "leases", "Lease", &[]),
    Resource {
        status: true,
        ..res(
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            &["hpa"],
        )
    },
    Resource {
        status: true,
        builtin: false,
        ..res(
            "gateway.networking.k8s.io",
            "v1",
            "gateways",
            "Gateway",
            &["gtw"],
        )
    },
    Resource {
        status: true,
        builtin: false,
        ..res(
            "gateway.networking.k8s.io",
            "v1",
            "httproutes",
            "HTTPRoute",
            &[],
        )
    },
    // The same HTTPRoutes under v1beta1 (`gatewayapi:v1beta1`), kept under v1.
    Resource {
        status: true,
        builtin: false,
        ..res(
            "gateway.networking.k8s.io",
            "v1beta1",
            "httproutes",
            "HTTPRoute",
            &[],
        )
    },
    Resource {
        status: true,
        builtin: false,
        ..res("flagger.app", "v1beta1", "canaries", "Canary", &["canary"])
    },
    Resource {
        builtin: false,
        ..res(
            "flagger.app",
            "v1beta1",
            "metrictemplates",
            "MetricTemplate",
            &[],
        )
    },
    Resource {
        builtin: false,
        ..res(
            "flagger.app",
            "v1beta1",
            "alertproviders",
            "AlertProvider",
            &[],
        )
    },
    Resource {
        status: true,
        builtin: false,
        ..res(
            "networking.istio.io",
            "v1beta1",
            "virtualservices",
            "VirtualService",
            &["vs"],
        )
    },
    Resource {
        status: true,
        builtin: false,
        ..res(
            "networking.istio.io",
            "v1beta1",
            "destinationrules",
            "DestinationRule",
            &["dr"],
        )
    },
    traffic_split("v1alpha3"),
    traffic_split("v1alpha2"),
    traffic_split("v1alpha1"),
    Resource {
        status: true,
        builtin: false,
        ..res(
            "projectcontour.io",
            "v1",
            "httpproxies",
            "HTTPProxy",
            &["proxy", "proxies"],
        )
    },
    Resource {
        builtin: false,
        ..res(
            "traefik.io",
            "v1alpha1",
            "traefikservices",
            "TraefikService",
            &[],
        )
    },
    Resource {
        status: true,
        builtin: false,
        ..res(
            "apisix.apache.org",
            "v2",
            "apisixroutes",
            "ApisixRoute",
            &["ar"],
        )
    },
    Resource {
        builtin: false,
        ..res("gloo.solo.io", "v1", "upstreams", "Upstream", &["us"])
    },
    Resource {
        builtin: false,
        ..res(
            "gateway.solo.io",
            "v1",
            "routetables",
            "RouteTable",
            &["rt"],
        )
    },
    Resource {
        status: true,
        builtin: false,
        ..res(
            "serving.knative.dev",
            "v1",
            "services",
            "Service",
            &["kservice", "ksvc"],
        )
    },
    Resource {
        status: true,
        builtin: false,
        ..res(
            "serving.knative.dev",
            "v1",
            "revisions",
            "Revision",
            &["rev"],
        )
    },
    Resource {
        namespaced: false,
        builtin: false,
        ..res("kuma.io", "v1alpha1", "trafficroutes", "TrafficRoute", &[])
    },
    Resource {
        builtin: false,
        ..res(
            "traefik.io",
            "v1alpha1",
            "ingressroutes",
            "IngressRoute",
            &[],
        )
    },
];

/// The SMI TrafficSplit under one of its served versions.
const fn traffic_split(version: &'static str) -> Resource {
    Resource {
        builtin: false,
        ..res(
            "split.smi-spec.io",
            version,
            "trafficsplits",
            "TrafficSplit",
            &["ts"],
        )
    }
}

/// The entry a kind's objects are kept under: the first served version of its group and kind
/// (so one object is one object, whichever version wrote or reads it).
pub fn canonical(res: &Resource) -> &'static Resource {
    RESOURCES
        .iter()
        .find(|r| r.group == res.group && r.kind == res.kind)
        .unwrap_or(&RESOURCES[0])
}

/// Whether `res` is the entry its kind's objects are kept under.
pub fn is_canonical(res: &Resource) -> bool {
    std::ptr::eq(canonical(res), res)
}

/// The resource for a URL's group, version and plural.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource for an `apiVersion` and `kind`.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.api_version() == api_version && r.kind == kind)
}

/// The served group-versions, core first.
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for r in RESOURCES {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}
