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
