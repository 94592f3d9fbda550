//! Traffic routing objects: the ClusterIP Services every provider needs (`services.rs`) and the
//! provider's own objects (`nginx.rs`: the canary Ingress; `kubernetes.rs`: none, blue/green).
//! Must not touch workloads.

pub mod kubernetes;
pub mod nginx;
pub mod services;
