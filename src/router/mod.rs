//! Traffic routing objects: the ClusterIP Services every provider needs (`services.rs`) and the
//! provider's own objects (`nginx.rs`: the canary Ingress; `gateway_api/`: the HTTPRoute;
//! `kubernetes.rs`: none, blue/green). Must not touch workloads.

pub mod gateway_api;
pub mod kubernetes;
pub mod nginx;
pub mod services;
