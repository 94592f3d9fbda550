//! Everything the simulator holds, behind one lock: objects, controllers, traffic, faults, log.

use crate::SimConfig;
use crate::controller::Controller;
use crate::dataplane::DataPlane;
use crate::faults::{Injector, LogEntry};
use crate::store::Store;
use std::time::Instant;

/// The simulator's state.
#[derive(Debug)]
pub struct State {
    /// API objects.
    pub store: Store,
    /// Deployment rollouts and pods (and, before them, the Knative stand-in's Revisions).
    pub controller: Controller,
    /// Traffic counters.
    pub dataplane: DataPlane,
    /// Fault injection.
    pub injector: Injector,
    /// Counter snapshots for the `sim` metrics provider.
    pub history: crate::promql::History,
    /// Every API request, in order.
    pub log: Vec<LogEntry>,
    /// Settings.
    pub config: SimConfig,
    /// When the simulator started.
    pub started: Instant,
    last_tick: Instant,
}

impl State {
    /// A fresh cluster.
    pub fn new(config: SimConfig) -> Self {
        let now = Instant::now();
        Self {
            store: Store::new(),
            controller: Controller::default(),
            dataplane: DataPlane::default(),
            injector: Injector::default(),
            history: Default::default(),
            log: Vec::new(),
            config,
            started: now,
            last_tick: now,
        }
    }

    /// Runs the controllers and the traffic up to `now`.
    pub fn tick(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last_tick).as_secs_f64();
        self.last_tick = now;
        self.store.reap_namespaces();
        let knative = crate::knative::reconcile(&self.store);
        crate::knative::apply_to_store(&mut self.store, knative);
        self.controller
            .tick(&mut self.store, now, self.config.ready_after);
        self.controller.accept_routes(&mut self.store);
        self.dataplane.tick(
            &self.store,
            &self.controller,
            dt,
            self.config.rps,
            self.config.header_share,
        );
        self.history.record(now, &self.dataplane);
    }

    /// Appends to the request log.
    pub fn record(&mut self, mut entry: LogEntry) {
        entry.seq = self.log.len() as u64 + 1;
        entry.at_ms = self.started.elapsed().as_millis() as u64;
        self.log.push(entry);
    }
}
