//! Flagger's built-in checks for NGINX (reference §5.2): canary-backend traffic only, on the
//! original Ingress; success rate in percent, duration as a mean in milliseconds.

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
