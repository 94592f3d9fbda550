//! The simulator over real HTTP: the product's kube 5 client, the machine's kubectl, a real
//! Prometheus, the `sim` metrics provider, the deployment controller and fault injection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod binary;
mod client;
mod cloud;
mod controller;
mod faults;
mod kubectl;
mod mesh;
mod prometheus;
mod provider;
mod real_mesh;
