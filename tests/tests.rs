//! Integration tests: the real binary and the library's public surface. One test binary; each
//! module below is one concern.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod alerts;
mod analysis;
mod apisix;
mod architecture;
mod bad_input;
mod canary;
mod cli;
mod cloud;
mod cluster;
mod concurrency;
mod container;
mod contour;
mod daemonset;
mod demo;
mod faults;
mod fields;
mod fuzz;
mod gateway;
mod github;
mod gloo;
mod golden;
mod hooks;
mod init;
mod knative;
mod kubeconfig;
mod manifests;
mod many;
mod mesh;
mod mesh_rollout;
mod metrics_faults;
mod plan;
mod plans;
mod promql;
mod real;
mod rollout;
mod scenarios;
mod secrets;
mod service_target;
mod sigv4;
mod skipper;
mod support;
mod traefik;
mod validate;
