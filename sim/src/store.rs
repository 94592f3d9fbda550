//! The object store: Kubernetes semantics over JSON values.
//!
//! Owns resourceVersion (one counter, stale writes → 409), uid and creationTimestamp, generation
//! (bumped only when `spec` changes), the status and scale subresources, ownerReference garbage
//! collection, namespaces, selectors and name-sorted lists. Must not know about HTTP.

use crate::clock::now_rfc3339;
use crate::defaults;
use crate::patch;
use crate::resources::{RESOURCES, Resource};
use crate::selector::Selector;
use crate::status::ApiError;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Where an object lives: resource index, namespace (`""` when cluster-scoped), name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Index into [`RESOURCES`].
    pub res: usize,
    /// Namespace, `""` for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// Which part of an object a write addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The object (status kept when the kind has a status subresource).
    Main,
    /// The `status` subresource (everything else kept).
    Status,
}

/// How a PATCH body is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply, approximated as create-or-merge).
    Apply,
}

/// All objects.
#[derive(Clone, Debug, Default)]
pub struct Store {
    objects: BTreeMap<Key, Value>,
    rv: u64,
    uids: u64,
}

/// The index objects of `res` are kept under: one per group and kind, whatever the version.
fn index_of(res: &Resource) -> usize {
    let canonical = crate::resources::canonical(res);
    RESOURCES
        .iter()
        .position(|r| std::ptr::eq(r, canonical))
        .unwrap_or(0)
}

/// An object as read through `res`'s version (no conversion: only `apiVersion` changes, as a
/// CRD with `conversion: None` serves it).
fn as_version(res: &Resource, mut obj: Value) -> Value {
    if obj.is_object() {
        obj["apiVersion"] = json!(res.api_version());
    }
    obj
}

fn rv_of(obj: &Value) -> Option<&str> {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .filter(|s| !s.is_empty())
}

impl Store {
    /// A store with the `default` namespace.
    pub fn new() -> Self {
        let mut store = Store::default();
        for ns in ["default", "kube-system"] {
            let _ = store.create(namespaces(), "", json!({"metadata": {"name": ns}}));
        }
        store
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    fn next_uid(&mut self) -> String {
        self.uids += 1;
        let n = self.uids;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            0x5a5a_0000u32 + (n as u32 & 0xffff),
            n & 0xffff,
            n & 0xfff,
            (n >> 12) & 0xfff,
            n
        )
    }

    fn key(res: &Resource, ns: &str, name: &str) -> Key {
        Key {
            res: index_of(res),
            namespace: if res.namespaced {
                ns.to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }

    fn check_namespace(&self, res: &Resource, ns: &str) -> Result<(), ApiError> {
        if !res.namespaced {
            return Ok(());
        }
        if ns.is_empty() {
            return Err(ApiError::bad_request(
                "the namespace of the object does not match the namespace on the request",
            ));
        }
        match self.objects.get(&Self::key(namespaces(), "", ns)) {
            Some(n) if n["metadata"]["deletionTimestamp"].is_string() => {
                Err(ApiError::forbidden(format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                )))
            }
            Some(_) => Ok(()),
            None => Err(ApiError::namespace_not_found(ns)),
        }
    }

    /// One object.
    pub fn get(&self, res: &Resource, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&Self::key(res, ns, name))
            .map(|v| as_version(res, v.clone()))
            .ok_or_else(|| ApiError::not_found(res, name))
    }

    /// Objects of a kind in a namespace (`None`: all), filtered, sorted by namespace and name.
    pub fn list_items(
        &self,
        res: &Resource,
        ns: Option<&str>,
        labels: &Selector,
        fields: &Selector,
    ) -> Vec<Value> {
        let idx = index_of(res);
        self.objects
            .iter()
            .filter(|(k, _)| k.res == idx && ns.is_none_or(|n| !res.namespaced || k.namespace == n))
            .map(|(_, v)| v)
            .filter(|v| labels.matches_labels(v) && fields.matches_fields(v))
            .map(|v| as_version(res, v.clone()))
            .collect()
    }

    /// A `<Kind>List` body.
    pub fn list(
        &self,
        res: &Resource,
        ns: Option<&str>,
        labels: &Selector,
        fields: &Selector,
    ) -> Value {
        json!({
            "kind": format!("{}List", res.kind),
            "apiVersion": res.api_version(),
            "metadata": {"resourceVersion": self.rv.to_string()},
            "items": self.list_items(res, ns, labels, fields),
        })
    }

    /// Creates an object (POST).
    pub fn create(&mut self, res: &Resource, ns: &str, mut body: Value) -> Result<Value, ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        }
        let name = match body["metadata"]["name"].as_str() {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => match body["metadata"]["generateName"].as_str() {
                Some(prefix) => format!("{prefix}{:05x}", self.rv + 1),
                None => {
                    return Err(ApiError::invalid(
                        res,
                        "",
                        "metadata.name: Required value: name or generateName is required",
                    ));
                }
            },
        };
        if let Some(body_ns) = body["metadata"]["namespace"].as_str()
            && res.namespaced
            && !body_ns.is_empty()
            && body_ns != ns
        {
            return Err(ApiError::bad_request(format!(
                "the namespace of the provided object ({body_ns}) does not match the namespace sent on the request ({ns})"
            )));
        }
        self.check_namespace(res, ns)?;
        let key = Self::key(res, ns, &name);
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(res, &name));
        }
        let meta = body["metadata"]
            .as_object_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        let mut meta: Map<String, Value> = meta;
        meta.insert("name".into(), json!(name));
        if res.namespaced {
            meta.insert("namespace".into(), json!(ns));
        } else {
            meta.remove("namespace");
        }
        meta.insert("uid".into(), json!(self.next_uid()));
        meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        meta.insert("resourceVersion".into(), json!(self.next_rv()));
        if body.get("spec").is_some() {
            meta.insert("generation".into(), json!(1));
        }
        meta.remove("deletionTimestamp");
        meta.remove("managedFields");
        body["metadata"] = Value::Object(meta);
        body["kind"] = json!(res.kind);
        body["apiVersion"] = json!(res.api_version());
        if res.status && res.kind != "Namespace" {
            body.as_object_mut().map(|o| o.remove("status"));
        }
        defaults::apply(res, &mut body, None);
        defaults::validate(res, &body, None)?;
        self.objects.insert(key, body.clone());
        Ok(body)
    }

    /// Replaces an object (PUT) or its status.
    pub fn replace(
        &mut self,
        res: &Resource,
        ns: &str,
        name: &str,
        body: Value,
        part: Part,
    ) -> Result<Value, ApiError> {
        let old = self.get(res, ns, name)?;
        if let Some(rv) = rv_of(&body)
            && Some(rv) != rv_of(&old)
        {
            return Err(ApiError::conflict(res, name));
        }
        if let Some(body_name) = body["metadata"]["name"].as_str()
            && body_name != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        self.commit(res, ns, name, &old, body, part)
    }

    /// Patches an object or its status.
    pub fn patch(
        &mut self,
        res: &Resource,
        ns: &str,
        name: &str,
        kind: PatchKind,
        patch: &Value,
        part: Part,
    ) -> Result<Value, ApiError> {
        let old = match (self.get(res, ns, name), kind) {
            (Ok(old), _) => old,
            (Err(e), PatchKind::Apply) if e.code == 404 && part == Part::Main => {
                let mut body = patch.clone();
                body["metadata"]["name"] = json!(name);
                return self.create(res, ns, body);
            }
            (Err(e), _) => return Err(e),
        };
        let mut new = old.clone();
        match kind {
            PatchKind::Merge | PatchKind::Apply => patch::merge(&mut new, patch),
            PatchKind::Strategic => {
                if !res.builtin {
                    return Err(ApiError::unsupported_media_type(
                        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                    ));
                }
                patch::strategic(&mut new, patch);
            }
            PatchKind::Json => {
                patch::json(&mut new, patch).map_err(|why| ApiError::invalid(res, name, why))?
            }
        }
        if let Some(rv) = rv_of(&new)
            && Some(rv) != rv_of(&old)
        {
            return Err(ApiError::conflict(res, name));
        }
        self.commit(res, ns, name, &old, new, part)
    }

    fn commit(
        &mut self,
        res: &Resource,
        ns: &str,
        name: &str,
        old: &Value,
        mut new: Value,
        part: Part,
    ) -> Result<Value, ApiError> {
        if !new.is_object() {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        }
        match part {
            Part::Status => {
                let status = new.get("status").cloned().unwrap_or(Value::Null);
                new = old.clone();
                new["status"] = status;
            }
            Part::Main if res.status => {
                new["status"] = old.get("status").cloned().unwrap_or(Value::Null);
                if new["status"].is_null() {
                    new.as_object_mut().map(|o| o.remove("status"));
                }
            }
            Part::Main => {}
        }
        for field in [
            "uid",
            "creationTimestamp",
            "name",
            "namespace",
            "generation",
        ] {
            match old["metadata"].get(field) {
                Some(v) => new["metadata"][field] = v.clone(),
                None => {
                    new["metadata"].as_object_mut().map(|m| m.remove(field));
                }
            }
        }
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        new["kind"] = json!(res.kind);
        new["apiVersion"] = json!(res.api_version());
        defaults::apply(res, &mut new, Some(old));
        defaults::validate(res, &new, Some(old))?;
        if new.get("spec") != old.get("spec") && part == Part::Main {
            let generation = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            new["metadata"]["generation"] = json!(generation);
        }
        if new == *old {
            return Ok(new);
        }
        new["metadata"]["resourceVersion"] = json!(self.next_rv());
        self.objects.insert(Self::key(res, ns, name), new.clone());
        Ok(new)
    }

    /// Changes an object in place without the API's checks (the simulated controllers' writes).
    /// Returns false when the object is gone.
    pub fn update_with(&mut self, key: &Key, f: impl FnOnce(&mut Value)) -> bool {
        let Some(obj) = self.objects.get(key) else {
            return false;
        };
        let mut new = obj.clone();
        f(&mut new);
        if new != *obj {
            new["metadata"]["resourceVersion"] = json!(self.next_rv());
            self.objects.insert(key.clone(), new);
        }
        true
    }

    /// Deletes an object and, in the background sense, everything it owns.
    pub fn delete(&mut self, res: &Resource, ns: &str, name: &str) -> Result<Value, ApiError> {
        let key = Self::key(res, ns, name);
        if res.kind == "Namespace" {
            // Like a real cluster: the namespace turns Terminating now and goes (with its
            // contents) a second or two later; deletes inside it still work meanwhile.
            let stamp = now_rfc3339();
            let found = self.update_with(&key, |obj| {
                obj["metadata"]["deletionTimestamp"] = json!(stamp);
                obj["status"]["phase"] = json!("Terminating");
            });
            return match found {
                true => self.get(res, ns, name),
                false => Err(ApiError::not_found(res, name)),
            };
        }
        let Some(obj) = self.objects.remove(&key).map(|v| as_version(res, v)) else {
            return Err(ApiError::not_found(res, name));
        };
        self.rv += 1;
        if let Some(uid) = obj["metadata"]["uid"].as_str() {
            self.collect_garbage(uid.to_string());
        }
        Ok(obj)
    }

    /// Removes namespaces terminating for a second or more, and everything in them (a real
    /// namespace controller takes that long at least: a client's deletes of the contents right
    /// after the namespace's still find them).
    pub fn reap_namespaces(&mut self) {
        let due = crate::clock::rfc3339_ago(1);
        let gone: Vec<String> = self
            .all_of(namespaces())
            .into_iter()
            .filter(|(_, v)| {
                v["metadata"]["deletionTimestamp"]
                    .as_str()
                    .is_some_and(|at| at <= due.as_str())
            })
            .map(|(k, _)| k.name)
            .collect();
        for ns in gone {
            self.objects
                .retain(|k, _| !(RESOURCES[k.res].namespaced && k.namespace == ns));
            self.objects.remove(&Self::key(namespaces(), "", &ns));
            self.rv += 1;
        }
    }

    fn collect_garbage(&mut self, owner_uid: String) {
        let mut pending = vec![owner_uid];
        while let Some(uid) = pending.pop() {
            let owned: Vec<Key> = self
                .objects
                .iter()
                .filter(|(_, v)| {
                    v["metadata"]["ownerReferences"]
                        .as_array()
                        .is_some_and(|refs| {
                            refs.iter().any(|r| r["uid"].as_str() == Some(uid.as_str()))
                        })
                })
                .map(|(k, _)| k.clone())
                .collect();
            for k in owned {
                if let Some(v) = self.objects.remove(&k)
                    && let Some(u) = v["metadata"]["uid"].as_str()
                {
                    pending.push(u.to_string());
                }
            }
        }
    }

    /// Every object of one kind with its key (for the simulated controllers).
    pub fn all_of(&self, res: &Resource) -> Vec<(Key, Value)> {
        let idx = index_of(res);
        self.objects
            .iter()
            .filter(|(k, _)| k.res == idx)
            .map(|(k, v)| (k.clone(), as_version(res, v.clone())))
            .collect()
    }

    /// Puts an object as another server holds it (`None`: removes it), keeping its metadata:
    /// the store as a mirror of a real cluster's objects.
    pub fn mirror(&mut self, res: &Resource, ns: &str, name: &str, obj: Option<Value>) {
        let key = Self::key(res, ns, name);
        match obj {
            Some(v) => {
                self.objects.insert(key, v);
            }
            None => {
                self.objects.remove(&key);
            }
        }
        self.rv += 1;
    }

    /// Removes every object of `res` in `ns` (before a mirror lists them again).
    pub fn forget(&mut self, res: &Resource, ns: &str) {
        let idx = index_of(res);
        self.objects
            .retain(|k, _| !(k.res == idx && k.namespace == ns));
    }

    /// The key of an object.
    pub fn key_of(res: &Resource, ns: &str, name: &str) -> Key {
        Self::key(res, ns, name)
    }
}

fn namespaces() -> &'static Resource {
    &RESOURCES[0]
}
