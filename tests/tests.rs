//! Integration tests: the real binary and the library's public surface. One test binary; each
//! module below is one concern.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod analysis;
mod architecture;
mod cli;
mod cluster;
mod container;
mod demo;
mod faults;
mod gateway;
mod github;
mod golden;
mod hooks;
mod init;
mod kubeconfig;
mod manifests;
mod many;
mod plan;
mod plans;
mod promql;
mod rollout;
mod scenarios;
mod support;
mod validate;
