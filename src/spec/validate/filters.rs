//! The Gateway API route filters of `spec.service` (`headers`, `rewrite`, `corsPolicy`,
//! `mirror`): what Flagger's Gateway API routers would refuse, drop or read differently from
//! what was written is said here, at the field. Pure; only diagnostics.

use super::Ctx;
use crate::spec::duration::parse_go_duration;
use crate::spec::path::FieldPath;
use crate::spec::wire::{self, Provider};

/// Checks the filters for a Gateway API provider (other providers get the "ignored by
/// provider" warning from the caller).
pub fn check(cx: &mut Ctx<'_>, path: &FieldPath, s: &wire::ServiceSpec, p: Provider) {
    if !matches!(p, Provider::GatewayApiV1 | Provider::GatewayApiV1beta1) {
        return;
    }
    for (i, m) in s.mirror.iter().flatten().enumerate() {
        mirror(
            cx,
            &path.key("mirror").index(i).key("backendRef"),
            &m.backend_ref,
        );
    }
    if let Some(r) = &s.rewrite {
        rewrite(cx, &path.key("rewrite"), r);
    }
    if let (Some(c), Provider::GatewayApiV1) = (&s.cors_policy, p) {
        cors(cx, &path.key("corsPolicy"), c);
    }
}

fn mirror(cx: &mut Ctx<'_>, path: &FieldPath, b: &wire::BackendRef) {
    let service = b.group.as_deref().unwrap_or("").is_empty()
        && b.kind.as_deref().unwrap_or("Service") == "Service";
    match b.port {
        None if service => cx.error(
            path,
            "port is required for a Service reference (the HTTPRoute CRD refuses the route without it)",
        ),
        None => {}
        Some(v) => {
            cx.int_in(&path.key("port"), v, 1, 65535);
        }
    }
}

fn rewrite(cx: &mut Ctx<'_>, path: &FieldPath, r: &wire::Rewrite) {
    if let Some(kind) = &r.kind
        && kind != "ReplacePrefixMatch"
        && kind != "ReplaceFullPath"
    {
        cx.warn(
            &path.key("type"),
            format!(
                "{kind:?} is read as ReplaceFullPath, as Flagger reads anything but ReplacePrefixMatch"
            ),
        );
    }
    if r.uri.is_none() && r.authority.is_none() {
        cx.warn(
            path,
            "neither uri nor authority is set: the URLRewrite filter rewrites nothing",
        );
    }
}

fn cors(cx: &mut Ctx<'_>, path: &FieldPath, c: &wire::CorsPolicy) {
    cx.notice(
        path,
        "rendered as the HTTPRoute CORS filter, which Gateway API v1.3 ships in its experimental channel: the cluster's HTTPRoute CRD must have it",
    );
    if c.allow_origins.as_ref().is_some_and(|o| !o.is_empty()) {
        cx.warn(
            &path.key("allowOrigins"),
            "ignored: the Gateway API CORS filter takes exact origins only; list them under allowOrigin (Flagger ignores allowOrigins too)",
        );
    }
    if let Some(age) = &c.max_age
        && parse_go_duration(age).is_none()
    {
        cx.warn(
            &path.key("maxAge"),
            format!(
                "{age:?} is not a Go duration (e.g. 24h): it is left out and the Gateway's default applies, as with Flagger"
            ),
        );
    }
}
