//! Traffic routing behind one trait, [`TrafficRouter`]: the ClusterIP Services every provider
//! needs (`services.rs`, used by the workloads that have them) and one file per provider for its
//! own objects:
//! - `nginx.rs`: the canary Ingress; `skipper.rs`: its weighted copy;
//! - `gateway_api/`: the HTTPRoute; `istio/`: the VirtualService and DestinationRules;
//! - `smi.rs`, `contour.rs`, `traefik.rs`: the TrafficSplit, HTTPProxy, TraefikService, each one
//!   object rendered from the split (`owned.rs` drives them alike);
//! - `apisix.rs`: the canary ApisixRoute; `gloo.rs`: the Upstreams and the RouteTable;
//! - `kuma.rs`: the cluster-scoped TrafficRoute; `knative.rs`: the target's traffic block;
//! - `kubernetes.rs`: none, blue/green.
//!
//! Which router a canary gets is decided once, in `driver::edges`. Must not touch workloads.

pub mod apisix;
pub mod contour;
pub mod gateway_api;
pub mod gloo;
pub mod istio;
pub mod knative;
pub mod kubernetes;
pub mod kuma;
pub mod nginx;
pub mod owned;
pub mod services;
pub mod skipper;
pub mod smi;
pub mod traefik;

use crate::error::Error;
use crate::k8s::desired::{InitStep, Read};
use crate::rollout::Routes;
use std::time::Duration;

/// A provider's routing: the objects it owns, the live split, and moving it.
#[async_trait::async_trait]
pub trait TrafficRouter: Send + Sync {
    /// Reads what the route objects are rendered from and checks it (a missing or foreign object
    /// is invalid input, before anything is written); returns the steps that create them or
    /// bring them up to date without moving traffic.
    async fn initialization(&self, read: &dyn Read) -> Result<Vec<InitStep<'_>>, Error>;

    /// The live split; a router whose object must first be accepted waits up to `wait`.
    async fn routes(&self, client: &kube::Client, wait: Duration) -> Result<Routes, Error>;

    /// Moves traffic to `split`; `revision` (the target's, when known) names a sticky-session
    /// cookie where the router sets one.
    async fn set_routes(
        &self,
        client: &kube::Client,
        split: Routes,
        revision: Option<&str>,
    ) -> Result<(), Error>;

    /// Whether the split this process wrote can be trusted on the next tick instead of being read
    /// again (false when every write must be seen accepted).
    fn remembers_writes(&self) -> bool;
}

/// All traffic on the primary.
pub const ALL_PRIMARY: Routes = Routes {
    primary: 100,
    canary: 0,
    mirrored: false,
};
