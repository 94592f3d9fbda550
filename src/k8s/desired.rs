//! Initialization as data: the ordered [`InitStep`]s the edges render (objects to create or bring
//! up to date, and the waits between them), the [`Read`] port they read their inputs through, and
//! the one function that applies a [`Desired`] object. `init` applies the steps; `plan` diffs them
//! against what it reads, so the two cannot drift. Must not decide which objects exist (the
//! workloads and routers do).

use crate::error::Error;
use crate::k8s::write::{Outcome, ensure, read_opt};
use kube::api::{Api, ApiResource, DynamicObject};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;

/// How an existing object becomes the desired one: `None` leaves it as it is (or absent).
type Merge<'a> = Arc<dyn Fn(Option<&DynamicObject>) -> Option<DynamicObject> + Send + Sync + 'a>;

/// One object initialization creates or brings up to date.
#[derive(Clone)]
pub struct Desired<'a> {
    /// Its resource (group, version, plural).
    pub resource: ApiResource,
    /// Its name.
    pub name: String,
    /// When and why `plan` shows it changing (`init`, `init; the rollout sets its weights`…).
    pub when: &'static str,
    /// A cluster-scoped kind (Kuma's TrafficRoute): read and written outside any namespace.
    pub cluster: bool,
    merge: Merge<'a>,
}

impl std::fmt::Debug for Desired<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.object())
    }
}

impl<'a> Desired<'a> {
    /// An object of a typed kind, brought in line by `merge` (given the live object, if any; it
    /// returns the object as it should be, or `None` to leave it). A result equal to the live
    /// object is no change.
    pub fn typed<K>(
        name: &str,
        when: &'static str,
        merge: impl Fn(Option<&K>) -> Option<K> + Send + Sync + 'a,
    ) -> Desired<'a>
    where
        K: kube::Resource<DynamicType = ()> + Serialize + DeserializeOwned + PartialEq,
    {
        let merge: Merge<'a> = Arc::new(move |current: Option<&DynamicObject>| {
            // A live object that does not read as its kind is left alone, never overwritten.
            let live: Option<K> = match current {
                None => None,
                Some(c) => Some(from_dynamic(c)?),
            };
            let next = merge(live.as_ref())?;
            if live.as_ref() == Some(&next) {
                return None;
            }
            to_dynamic(&next)
        });
        Desired {
            resource: ApiResource::erase::<K>(&()),
            name: name.to_string(),
            when,
            cluster: false,
            merge,
        }
    }

    /// An object only created when missing, never changed afterwards.
    pub fn create_only<K>(want: K, when: &'static str) -> Desired<'a>
    where
        K: kube::Resource<DynamicType = ()>
            + Serialize
            + DeserializeOwned
            + PartialEq
            + Clone
            + Send
            + Sync
            + 'a,
    {
        let name = want.meta().name.clone().unwrap_or_default();
        Desired::typed(&name, when, move |cur: Option<&K>| {
            cur.is_none().then(|| want.clone())
        })
    }

    /// An object of a kind known only by its resource (a CRD such as HTTPRoute).
    pub fn dynamic(
        resource: ApiResource,
        name: &str,
        when: &'static str,
        merge: impl Fn(Option<&DynamicObject>) -> Option<DynamicObject> + Send + Sync + 'a,
    ) -> Desired<'a> {
        let merge: Merge<'a> = Arc::new(move |current: Option<&DynamicObject>| {
            let next = merge(current)?;
            (current != Some(&next)).then_some(next)
        });
        Desired {
            resource,
            name: name.to_string(),
            when,
            cluster: false,
            merge,
        }
    }

    /// The same object, of a cluster-scoped kind.
    pub fn cluster_scoped(mut self) -> Desired<'a> {
        self.cluster = true;
        self
    }

    /// The live object, read through `read` where it lives.
    pub async fn live(&self, read: &dyn Read) -> Result<Option<DynamicObject>, Error> {
        match self.cluster {
            true => read.get_in(&self.resource, "", &self.name).await,
            false => read.get(&self.resource, &self.name).await,
        }
    }

    /// `kind/name` in kubectl's lower-case spelling (`deployment/podinfo-primary`).
    pub fn object(&self) -> String {
        format!("{}/{}", self.resource.kind.to_lowercase(), self.name)
    }

    /// The object after this step, given the live one: `None` when nothing would change.
    pub fn after(&self, live: Option<&DynamicObject>) -> Option<DynamicObject> {
        (self.merge)(live)
    }
}

/// One step of initialization, in order.
#[derive(Clone, Debug)]
pub enum InitStep<'a> {
    /// Create or update an object.
    Apply(Desired<'a>),
    /// Wait until the primary workload is ready (nothing after it is written before).
    WaitPrimaryReady,
    /// Scale the target to zero (the apex Service selects the primary by then); only when the
    /// canary is taken over for the first time and the target still has replicas (given).
    ScaleTargetToZero {
        /// `kind/name` of the target.
        object: String,
        /// Its replicas now.
        replicas: i32,
    },
    /// Wait until the route's parents accept its current generation.
    WaitRouteAccepted,
}

/// Where the edges read what initialization is rendered from: the cluster for `init`, the
/// manifests beside the spec and then the cluster for `plan`.
#[async_trait::async_trait]
pub trait Read: Send + Sync {
    /// The object, if it exists.
    async fn get(&self, resource: &ApiResource, name: &str)
    -> Result<Option<DynamicObject>, Error>;

    /// The object in another namespace (a cross-namespace reference such as Gloo's
    /// `upstreamRef`), if it exists.
    async fn get_in(
        &self,
        resource: &ApiResource,
        namespace: &str,
        name: &str,
    ) -> Result<Option<DynamicObject>, Error>;
}

/// Reads a typed object through a [`Read`].
pub async fn get<K>(read: &dyn Read, name: &str) -> Result<Option<K>, Error>
where
    K: kube::Resource<DynamicType = ()> + DeserializeOwned,
{
    let resource = ApiResource::erase::<K>(&());
    let Some(found) = read.get(&resource, name).await? else {
        return Ok(None);
    };
    let kind = resource.kind.to_lowercase();
    let value =
        serde_json::to_value(&found).map_err(|e| Error::Invalid(format!("{kind}/{name}: {e}")))?;
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| Error::Invalid(format!("{kind}/{name}: {e}")))
}

/// Reads from one namespace of the cluster.
pub struct ClusterRead {
    /// The client.
    pub client: kube::Client,
    /// The namespace.
    pub namespace: String,
}

impl ClusterRead {
    /// Reads from `namespace` through `client`.
    pub fn new(client: &kube::Client, namespace: &str) -> ClusterRead {
        ClusterRead {
            client: client.clone(),
            namespace: namespace.to_string(),
        }
    }
}

#[async_trait::async_trait]
impl Read for ClusterRead {
    async fn get(
        &self,
        resource: &ApiResource,
        name: &str,
    ) -> Result<Option<DynamicObject>, Error> {
        self.get_in(resource, &self.namespace, name).await
    }

    async fn get_in(
        &self,
        resource: &ApiResource,
        namespace: &str,
        name: &str,
    ) -> Result<Option<DynamicObject>, Error> {
        // `""`: a cluster-scoped kind.
        let api: Api<DynamicObject> = match namespace {
            "" => Api::all_with(self.client.clone(), resource),
            ns => Api::namespaced_with(self.client.clone(), ns, resource),
        };
        let what = format!("reading {}/{name}", resource.kind.to_lowercase());
        read_opt(&api, name, &what).await
    }
}

/// Creates or updates one desired object in `namespace`.
pub async fn apply(
    client: &kube::Client,
    namespace: &str,
    d: &Desired<'_>,
) -> Result<Outcome, Error> {
    let api: Api<DynamicObject> = match d.cluster {
        true => Api::all_with(client.clone(), &d.resource),
        false => Api::namespaced_with(client.clone(), namespace, &d.resource),
    };
    ensure(&api, &d.name, &d.object(), |current| d.after(current)).await
}

/// A typed object as a dynamic one (its `apiVersion` and `kind` included).
pub fn to_dynamic<K: Serialize>(k: &K) -> Option<DynamicObject> {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
}

/// A dynamic object as a typed one.
pub fn from_dynamic<K: DeserializeOwned>(d: &DynamicObject) -> Option<K> {
    serde_json::to_value(d)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
}

/// The object as JSON, for diffs.
pub fn as_value(d: &DynamicObject) -> Value {
    serde_json::to_value(d).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use serde_json::json;

    fn cm(value: &str) -> ConfigMap {
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x"}, "data": {"k": value}}))
        .expect("a ConfigMap")
    }

    fn live(value: &str) -> DynamicObject {
        to_dynamic(&cm(value)).expect("dynamic")
    }

    #[test]
    fn a_desired_object_is_created_updated_or_left_alone() {
        let want = cm("b");
        let d = Desired::typed("x", "init", move |_: Option<&ConfigMap>| Some(want.clone()));
        assert_eq!(d.object(), "configmap/x");
        let created = d.after(None).expect("created when absent");
        assert_eq!(created.data["data"]["k"], "b");
        assert!(d.after(Some(&live("b"))).is_none(), "equal: no write");
        let updated = d.after(Some(&live("a"))).expect("updated when different");
        assert_eq!(updated.data["data"]["k"], "b");
        // A live object that does not read as a ConfigMap is never overwritten.
        let odd: DynamicObject = serde_json::from_value(json!({"apiVersion": "v1",
            "kind": "ConfigMap", "metadata": {"name": "x"}, "data": "not a map"}))
        .expect("dynamic");
        assert!(d.after(Some(&odd)).is_none());
    }

    #[test]
    fn a_create_only_object_is_never_changed_once_it_exists() {
        let d = Desired::create_only(cm("b"), "init");
        assert!(d.after(None).is_some());
        assert!(d.after(Some(&live("a"))).is_none());
    }
}
