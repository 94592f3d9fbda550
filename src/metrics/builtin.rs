//! Flagger's built-in checks per observer: NGINX (reference §5.2: canary-backend traffic only,
//! on the original Ingress; duration as a mean), the app's own HTTP histograms, Istio and
//! Linkerd, Skipper, Contour, Gloo, Kuma, Knative, Traefik and APISIX (Flagger's `pkg/metrics/observers`; duration as the p99
//! except where noted). Success rates are in percent, durations in milliseconds. Pure: strings
//! only.

use crate::spec::model::Builtin;

/// The PromQL for a built-in check on NGINX.
pub fn nginx(builtin: Builtin, namespace: &str, ingress: &str, interval: &str) -> String {
    let sel = format!(r#"namespace="{namespace}",ingress="{ingress}",canary!="""#);
    match builtin {
        Builtin::RequestSuccessRate => format!(
            r#"sum(rate(nginx_ingress_controller_requests{{{sel},status!~"5.*"}}[{interval}])) / sum(rate(nginx_ingress_controller_requests{{{sel}}}[{interval}])) * 100"#
        ),
        Builtin::RequestDuration => format!(
            "sum(rate(nginx_ingress_controller_response_duration_seconds_sum{{{sel}}}[{interval}])) / sum(rate(nginx_ingress_controller_response_duration_seconds_count{{{sel}}}[{interval}])) * 1000"
        ),
    }
}

/// The PromQL for a built-in check on Skipper (Flagger's Skipper observer): the routes Skipper
/// makes for the canary Ingress's canary backend, `kube(ew)?_<ns>__<ingress>_canary__…__<service>_canary`,
/// with every non-word character of the names as `_` (as Skipper writes route ids). Success rate
/// in percent from the `+Inf` bucket of `skipper_response_duration_seconds` by `code`; duration as
/// the mean of `skipper_serve_route_duration_seconds` in milliseconds.
pub fn skipper(
    builtin: Builtin,
    namespace: &str,
    ingress: &str,
    service: &str,
    interval: &str,
) -> String {
    let word = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let route = format!(
        "kube(ew)?_{}__{}_canary__.*__{}_canary(_[0-9]+)?",
        word(namespace),
        word(ingress),
        word(service)
    );
    match builtin {
        Builtin::RequestSuccessRate => format!(
            r#"sum(rate(skipper_response_duration_seconds_bucket{{route=~"{route}",code!~"5..",le="+Inf"}}[{interval}])) / sum(rate(skipper_response_duration_seconds_bucket{{route=~"{route}",le="+Inf"}}[{interval}])) * 100"#
        ),
        Builtin::RequestDuration => format!(
            r#"sum(rate(skipper_serve_route_duration_seconds_sum{{route=~"{route}"}}[{interval}])) / sum(rate(skipper_serve_route_duration_seconds_count{{route=~"{route}"}}[{interval}])) * 1000"#
        ),
    }
}

/// The PromQL for a built-in check on Envoy's upstream cluster series, selected by
/// `label=~"pattern"` (Flagger's Contour, Gloo and Kuma observers): success rate in percent from
/// `envoy_cluster_upstream_rq` by `envoy_response_code`; duration as the p99 of
/// `envoy_cluster_upstream_rq_time`, which Envoy keeps in milliseconds.
fn envoy(builtin: Builtin, label: &str, pattern: &str, interval: &str) -> String {
    let sel = format!(r#"{label}=~"{pattern}""#);
    match builtin {
        Builtin::RequestSuccessRate => format!(
            r#"sum(rate(envoy_cluster_upstream_rq{{{sel},envoy_response_code!~"5.*"}}[{interval}])) / sum(rate(envoy_cluster_upstream_rq{{{sel}}}[{interval}])) * 100"#
        ),
        Builtin::RequestDuration => format!(
            "histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{{{sel}}}[{interval}])) by (le))"
        ),
    }
}

/// The PromQL for a built-in check on Contour (Flagger's Contour observer): Envoy's clusters for
/// the canary Service, `<namespace>_<service>-canary_<port>`.
pub fn contour(builtin: Builtin, namespace: &str, service: &str, interval: &str) -> String {
    let pattern = format!("{namespace}_{service}-canary_[0-9a-zA-Z-]+");
    envoy(builtin, "envoy_cluster_name", &pattern, interval)
}

/// The PromQL for a built-in check on Gloo (Flagger's Gloo observer): Envoy's clusters for the
/// canary Upstream, `<namespace>-<target>-canaryupstream-<port>_<upstream namespace>`.
pub fn gloo(builtin: Builtin, namespace: &str, target: &str, interval: &str) -> String {
    let pattern = format!("{namespace}-{target}-canaryupstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+");
    envoy(builtin, "envoy_cluster_name", &pattern, interval)
}

/// The PromQL for a built-in check on Knative (Flagger's Knative observer): Envoy's cluster for
/// the latest Revision as Kourier names it, `<namespace>/<revision>`.
pub fn knative(builtin: Builtin, namespace: &str, revision: &str, interval: &str) -> String {
    envoy(
        builtin,
        "envoy_cluster_name",
        &format!("{namespace}/{revision}"),
        interval,
    )
}

/// The PromQL for a built-in check on Kuma (Flagger's Kuma observer): Envoy's series of the
/// canary's data plane proxies, by their service tag `<target>-canary_<namespace>_svc_<port>`.
pub fn kuma(builtin: Builtin, namespace: &str, target: &str, interval: &str) -> String {
    let pattern = format!("{target}-canary_{namespace}_svc_[0-9a-zA-Z-]+");
    envoy(builtin, "service", &pattern, interval)
}

/// The PromQL for a built-in check on Traefik (Flagger's Traefik observer): Traefik's service
/// histogram for the canary Service, `<namespace>-<target>-canary-<port>@kubernetescrd`. Success
/// rate in percent from the `+Inf` bucket by `code`; duration as the p99 in milliseconds.
pub fn traefik(builtin: Builtin, namespace: &str, target: &str, interval: &str) -> String {
    let sel = format!(r#"service=~"{namespace}-{target}-canary-[0-9a-zA-Z-]+@kubernetescrd""#);
    match builtin {
        Builtin::RequestSuccessRate => format!(
            r#"sum(rate(traefik_service_request_duration_seconds_bucket{{{sel},code!~"5..",le="+Inf"}}[{interval}])) / sum(rate(traefik_service_request_duration_seconds_bucket{{{sel},le="+Inf"}}[{interval}])) * 100"#
        ),
        Builtin::RequestDuration => format!(
            "histogram_quantile(0.99, sum(rate(traefik_service_request_duration_seconds_bucket{{{sel}}}[{interval}])) by (le)) * 1000"
        ),
    }
}

/// The PromQL for a built-in check on APISIX (Flagger's APISIX observer): the prometheus
/// plugin's series for the canary ApisixRoute's entries, `<namespace>_<route>-<target>-canary_<entry>`
/// (`prefer_name`). Success rate in percent from `apisix_http_status` by `code`; duration as the
/// p99 of `apisix_http_latency` (`type="request"`), in milliseconds.
pub fn apisix(
    builtin: Builtin,
    namespace: &str,
    route: &str,
    target: &str,
    interval: &str,
) -> String {
    let sel = format!(r#"route=~"{namespace}_{route}-{target}-canary_.+""#);
    match builtin {
        Builtin::RequestSuccessRate => format!(
            r#"sum(rate(apisix_http_status{{{sel},code!~"5.."}}[{interval}])) / sum(rate(apisix_http_status{{{sel}}}[{interval}])) * 100"#
        ),
        Builtin::RequestDuration => format!(
            r#"histogram_quantile(0.99, sum(rate(apisix_http_latency_bucket{{type=~"request",{sel}}}[{interval}])) by (le))"#
        ),
    }
}

/// The PromQL for a built-in check read from the application's own
/// `http_request_duration_seconds` histograms (Flagger's generic HTTP observer, used by
/// `provider: kubernetes` and Gateway API): the canary pods are `<target>-<hash>-<suffix>`.
/// Success rate in percent; duration as the p99 in milliseconds.
pub fn http(builtin: Builtin, namespace: &str, target: &str, interval: &str) -> String {
    let sel = format!(
        r#"kubernetes_namespace="{namespace}",kubernetes_pod_name=~"{target}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)""#
    );
    match builtin {
        Builtin::RequestSuccessRate => format!(
            r#"sum(rate(http_request_duration_seconds_count{{{sel},status!~"5.*"}}[{interval}])) / sum(rate(http_request_duration_seconds_count{{{sel}}}[{interval}])) * 100"#
        ),
        Builtin::RequestDuration => format!(
            "histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{{{sel}}}[{interval}])) by (le)) * 1000"
        ),
    }
}

/// The PromQL for a built-in check on Istio (Flagger's Istio observer): the destination
/// proxies' report of requests to the canary workload. Success rate in percent; duration as
/// the p99 in milliseconds.
pub fn istio(builtin: Builtin, namespace: &str, target: &str, interval: &str) -> String {
    let sel = format!(
        r#"reporter="destination",destination_workload_namespace="{namespace}",destination_workload=~"{target}""#
    );
    match builtin {
        Builtin::RequestSuccessRate => format!(
            r#"sum(rate(istio_requests_total{{{sel},response_code!~"5.*"}}[{interval}])) / sum(rate(istio_requests_total{{{sel}}}[{interval}])) * 100"#
        ),
        Builtin::RequestDuration => format!(
            "histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{{{sel}}}[{interval}])) by (le))"
        ),
    }
}

/// The PromQL for a built-in check on Linkerd (Flagger's Linkerd observer): inbound responses
/// of the canary deployment's proxies. Success rate in percent; duration as the p99 in
/// milliseconds.
pub fn linkerd(builtin: Builtin, namespace: &str, target: &str, interval: &str) -> String {
    let sel = format!(r#"namespace="{namespace}",deployment=~"{target}""#);
    match builtin {
        Builtin::RequestSuccessRate => format!(
            r#"sum(rate(response_total{{{sel},classification!="failure",direction="inbound"}}[{interval}])) / sum(rate(response_total{{{sel},direction="inbound"}}[{interval}])) * 100"#
        ),
        Builtin::RequestDuration => format!(
            r#"histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{{{sel},direction="inbound"}}[{interval}])) by (le))"#
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_match_flagger() {
        assert_eq!(
            nginx(Builtin::RequestSuccessRate, "nginx", "podinfo", "1m"),
            r#"sum(rate(nginx_ingress_controller_requests{namespace="nginx",ingress="podinfo",canary!="",status!~"5.*"}[1m])) / sum(rate(nginx_ingress_controller_requests{namespace="nginx",ingress="podinfo",canary!=""}[1m])) * 100"#
        );
        assert!(nginx(Builtin::RequestDuration, "nginx", "podinfo", "1m").ends_with("* 1000"));
    }
}
