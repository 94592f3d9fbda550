//! Every field of the Canary wire types, walked through serde itself (a deserializer that asks
//! each struct for its field names and descends into each), must be acted on, warned about by
//! `validate` when it is set where it does nothing, or on the explicit list of fields Flagger
//! ignores too. A new wire field fails here until it is classified; each "warned" field is
//! checked against `validate`'s output.

use canary_gate::spec::wire::CanaryDoc;
use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use std::cell::RefCell;

/// A deserializer that builds a value of any shape and records the path of every leaf.
struct Walker<'a> {
    path: String,
    leaves: &'a RefCell<Vec<String>>,
}

impl<'a> Walker<'a> {
    fn at(&self, key: &str) -> Walker<'a> {
        let path = if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        };
        Walker {
            path,
            leaves: self.leaves,
        }
    }

    fn leaf(&self) {
        self.leaves.borrow_mut().push(self.path.clone());
    }
}

type Err = de::value::Error;

impl<'de> Deserializer<'de> for Walker<'_> {
    type Error = Err;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Err> {
        self.leaf();
        v.visit_i64(1)
    }
    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Err> {
        self.leaf();
        v.visit_bool(true)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Err> {
        self.leaf();
        v.visit_i64(1)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Err> {
        self.leaf();
        v.visit_f64(1.0)
    }
    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Err> {
        self.leaf();
        v.visit_str("x")
    }
    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Err> {
        self.deserialize_str(v)
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Err> {
        self.leaf();
        v.visit_unit()
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Err> {
        v.visit_some(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Err> {
        v.visit_seq(One(Some(self.at("[]"))))
    }
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Err> {
        v.visit_map(Fields {
            keys: vec!["*".to_string()],
            walker: self.at("*"),
            value_at_key: false,
        })
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Err> {
        v.visit_map(Fields {
            keys: fields.iter().rev().map(|f| f.to_string()).collect(),
            walker: self,
            value_at_key: true,
        })
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Err> {
        self.leaf();
        v.visit_enum(variants[0].into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 u8 u16 u32 u64 i128 u128 f32 char bytes byte_buf unit unit_struct
        newtype_struct tuple tuple_struct identifier
    }
}

/// One element of a sequence.
struct One<'a>(Option<Walker<'a>>);

impl<'de> SeqAccess<'de> for One<'_> {
    type Error = Err;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Err> {
        self.0.take().map(|w| seed.deserialize(w)).transpose()
    }
}

/// A struct's fields (each value walked at `<path>.<field>`), or one map entry (at `<path>`).
struct Fields<'a> {
    keys: Vec<String>,
    walker: Walker<'a>,
    value_at_key: bool,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = Err;
    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Err> {
        match self.keys.last() {
            Some(k) => seed.deserialize(k.clone().into_deserializer()).map(Some),
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Err> {
        let key = self.keys.pop().unwrap_or_default();
        let walker = if self.value_at_key {
            self.walker.at(&key)
        } else {
            Walker {
                path: self.walker.path.clone(),
                leaves: self.walker.leaves,
            }
        };
        seed.deserialize(walker)
    }
}

/// Every leaf path of a `Canary` document (`[]` for a list element, `*` for a map key).
fn canary_fields() -> Vec<String> {
    let leaves = RefCell::new(Vec::new());
    let walker = Walker {
        path: String::new(),
        leaves: &leaves,
    };
    let _ = CanaryDoc::deserialize(walker).expect("every wire type can be walked");
    let mut out = leaves.into_inner();
    out.sort();
    out.dedup();
    out
}

use serde::Deserialize;

/// How a field fares: canary-gate acts on it (where its provider reads it; `validate` warns
/// where it does not), `validate` warns that it is not acted on, or Flagger ignores it too.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fate {
    Acted,
    Warned,
    FlaggerIgnores,
}

/// The classification, by path prefix (the longest prefix wins).
const FIELDS: &[(&str, Fate)] = &[
    ("apiVersion", Fate::FlaggerIgnores),
    ("kind", Fate::FlaggerIgnores),
    ("status", Fate::FlaggerIgnores),
    ("metadata", Fate::FlaggerIgnores),
    ("metadata.name", Fate::Acted),
    ("metadata.namespace", Fate::Acted),
    ("spec.provider", Fate::Acted),
    ("spec.metricsServer", Fate::Acted),
    ("spec.targetRef", Fate::Acted),
    ("spec.autoscalerRef", Fate::Acted),
    // KEDA ScaledObjects: validate warns, canary-gate copies HPAs only.
    ("spec.autoscalerRef.primaryScalerQueries", Fate::Warned),
    ("spec.autoscalerRef.primaryScalerReplicas", Fate::Acted),
    ("spec.ingressRef", Fate::Acted),
    ("spec.routeRef", Fate::Warned),
    ("spec.upstreamRef", Fate::Warned),
    ("spec.service", Fate::Acted),
    // Routing options of App Mesh, which this build does not drive: warned. (Istio's own
    // options are acted on by the Istio router and warned on other providers.)
    ("spec.service.meshName", Fate::Warned),
    ("spec.service.backends", Fate::Warned),
    ("spec.analysis", Fate::Acted),
    ("spec.canaryAnalysis", Fate::Acted),
    ("spec.progressDeadlineSeconds", Fate::Acted),
    ("spec.skipAnalysis", Fate::Acted),
    ("spec.suspend", Fate::Acted),
    ("spec.revertOnDeletion", Fate::Warned),
];

/// Request-match conditions only Istio reads (`sourceLabels`, `gateways`, `port`…) are acted on
/// like the rest of `service.match` and `analysis.match`: the Istio router copies them onto the
/// VirtualService, and Flagger's other routers ignore them too.
fn fate(path: &str) -> Option<Fate> {
    FIELDS
        .iter()
        .filter(|(prefix, _)| path == *prefix || path.starts_with(&format!("{prefix}.")))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, f)| *f)
}

#[test]
fn every_canary_field_is_acted_on_warned_about_or_ignored_by_flagger_too() {
    let fields = canary_fields();
    assert!(
        fields.len() > 100,
        "{} fields walked: {fields:#?}",
        fields.len()
    );
    for must in [
        "spec.service.headers.request.set.*",
        "spec.service.corsPolicy.maxAge",
        "spec.service.mirror.[].backendRef.port",
        "spec.analysis.sessionAffinity.primaryCookieName",
    ] {
        assert!(
            fields.contains(&must.to_string()),
            "{must} not walked: {fields:#?}"
        );
    }
    let unclassified: Vec<&String> = fields.iter().filter(|f| fate(f).is_none()).collect();
    assert!(
        unclassified.is_empty(),
        "fields neither acted on, warned about, nor ignored by Flagger too: {unclassified:#?}"
    );
}

/// An example of each warned field (a YAML fragment under `spec:` of an NGINX canary, or a
/// `service:` line in place of its own) and the path `validate` must warn at. Every
/// [`Fate::Warned`] entry has one; so have routing options an NGINX canary does not read.
const WARNED: &[(&str, &str)] = &[
    (
        "  routeRef: {apiVersion: apisix.apache.org/v2, kind: ApisixRoute, name: r}\n",
        "spec.routeRef",
    ),
    (
        "  upstreamRef: {apiVersion: gloo.solo.io/v1, kind: Upstream, name: u}\n",
        "spec.upstreamRef",
    ),
    ("  revertOnDeletion: true\n", "spec.revertOnDeletion"),
    (
        "  autoscalerRef: {apiVersion: keda.sh/v1alpha1, kind: ScaledObject, name: s, primaryScalerQueries: {a: up}}\n",
        "spec.autoscalerRef.primaryScalerQueries",
    ),
    (
        "  service: {port: 80, targetPort: 9898, gateways: [g]}\n",
        "spec.service.gateways",
    ),
    (
        "  service: {port: 80, targetPort: 9898, retries: {attempts: 3}}\n",
        "spec.service.retries",
    ),
    (
        "  service: {port: 80, targetPort: 9898, delegation: true}\n",
        "spec.service.delegation",
    ),
    (
        "  service: {port: 80, targetPort: 9898, trafficPolicy: {}}\n",
        "spec.service.trafficPolicy",
    ),
    (
        "  service: {port: 80, targetPort: 9898, meshName: m}\n",
        "spec.service.meshName",
    ),
    (
        "  service: {port: 80, targetPort: 9898, backends: [b]}\n",
        "spec.service.backends",
    ),
    (
        "  service: {port: 80, targetPort: 9898, corsPolicy: {allowOrigins: [{exact: x}]}}\n",
        "spec.service.corsPolicy",
    ),
    (
        "  service: {port: 80, targetPort: 9898, headers: {request: {set: {a: b}}}}\n",
        "spec.service.headers",
    ),
    (
        "  service: {port: 80, targetPort: 9898, mirror: [{backendRef: {name: s, port: 80}}]}\n",
        "spec.service.mirror",
    ),
];

/// The NGINX fixture canary with `fragment` in place (a `service:` or `analysis:` line replaces
/// the canary's own).
fn with_fragment(fragment: &str) -> String {
    let text = crate::canary::canary("podinfo")
        .nginx()
        .interval("1m")
        .threshold(2)
        .iterations(2)
        .yaml();
    for key in ["  service:", "  analysis:", "  canaryAnalysis:"] {
        if fragment.starts_with(key) {
            let own = if key == "  canaryAnalysis:" {
                "  analysis:"
            } else {
                key
            };
            let start = text.find(own).unwrap();
            let mut end = start + text[start..].find('\n').unwrap() + 1;
            // A block mapping: its indented lines go too.
            while text[end..].starts_with("    ") {
                end += text[end..].find('\n').unwrap() + 1;
            }
            return format!("{}{fragment}{}", &text[..start], &text[end..]);
        }
    }
    text.replacen("spec:\n", &format!("spec:\n{fragment}"), 1)
}

#[test]
fn each_warned_field_is_warned_about_by_validate() {
    for (path, fate) in FIELDS {
        if *fate == Fate::Warned {
            assert!(
                WARNED
                    .iter()
                    .any(|(_, p)| p.starts_with(path) || path.starts_with(p)),
                "{path} has no example"
            );
        }
    }
    let mut missing = Vec::new();
    for (fragment, path) in WARNED {
        let text = with_fragment(fragment);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("canary.yaml");
        std::fs::write(&file, &text).unwrap();
        let r = crate::support::cg(&["validate", file.to_str().unwrap()]);
        if !r
            .stderr
            .lines()
            .any(|l| l.contains(&format!("warning: {path}")))
        {
            missing.push(format!("no warning at {path}:\n{text}\n{}", r.stderr));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
