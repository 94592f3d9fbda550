//! Traffic routing objects: the ClusterIP Services every provider needs (`services.rs`) and the
//! provider's own objects (`nginx.rs`: the canary Ingress). Must not touch workloads.

pub mod nginx;
pub mod services;
