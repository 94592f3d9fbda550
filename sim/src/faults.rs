//! Fault injection and the request log.
//!
//! Faults are deterministic: "every Nth write" counts writes, rates carry fractions from request
//! to request (a 10% error rate fails exactly every tenth matching request).

use serde::{Deserialize, Serialize};

/// What to break, for all requests or those under `path_prefix`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Faults {
    /// Answer 409 Conflict to every Nth write (POST/PUT/PATCH/DELETE).
    pub conflict_every: Option<u32>,
    /// Fraction (0-1) of requests answered with `error_code`.
    pub error_rate: f64,
    /// The 5xx code for `error_rate` (default 500).
    pub error_code: Option<u16>,
    /// Fraction (0-1) of requests answered 429 with `Retry-After`.
    pub throttle_rate: f64,
    /// `Retry-After` seconds for 429s (default 1).
    pub retry_after_seconds: Option<u32>,
    /// Milliseconds added to every matching request.
    pub latency_ms: u64,
    /// Fraction (0-1) of requests whose connection is closed without an answer.
    pub drop_rate: f64,
    /// Every Nth matching request takes `spike_ms` longer (latency spikes).
    pub spike_every: Option<u32>,
    /// Milliseconds a spike adds.
    pub spike_ms: u64,
    /// The Nth matching request (counted from when these faults were set) and every later one
    /// are held until the faults change, then dropped without being applied: the client died
    /// just before sending them (crash points).
    pub stall_from: Option<u64>,
    /// Only requests whose path starts with this.
    pub path_prefix: Option<String>,
}

/// What the fault injector decided for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injected {
    /// Serve normally.
    None,
    /// Answer with this status code.
    Status(u16),
    /// Answer 429 with this `Retry-After`.
    Throttle(u32),
    /// Close the connection.
    Drop,
    /// Hold the request until the faults change, then close the connection.
    Stall,
}

/// Fault state: the configuration and its counters.
#[derive(Debug, Default)]
pub struct Injector {
    /// Current faults.
    pub faults: Faults,
    writes: u64,
    requests: u64,
    /// Bumped by every [`Injector::set`]: a stalled request waits for it to change.
    pub generation: u64,
    error_carry: f64,
    throttle_carry: f64,
    drop_carry: f64,
}

fn due(carry: &mut f64, rate: f64) -> bool {
    if rate <= 0.0 {
        return false;
    }
    *carry += rate.min(1.0);
    if *carry >= 1.0 - 1e-9 {
        *carry -= 1.0;
        true
    } else {
        false
    }
}

impl Injector {
    /// Replaces the faults and resets the counters.
    pub fn set(&mut self, faults: Faults) {
        *self = Injector {
            faults,
            generation: self.generation + 1,
            ..Injector::default()
        };
    }

    /// Matching requests seen since the faults were set.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Extra latency for the current request (call once per request, after [`Injector::decide`]).
    pub fn spike(&self) -> u64 {
        match self.faults.spike_every.filter(|n| *n > 0) {
            Some(n) if self.requests > 0 && self.requests.is_multiple_of(u64::from(n)) => {
                self.faults.spike_ms
            }
            _ => 0,
        }
    }

    /// Decides the fate of one request.
    pub fn decide(&mut self, method: &str, path: &str) -> Injected {
        if self
            .faults
            .path_prefix
            .as_deref()
            .is_some_and(|p| !path.starts_with(p))
        {
            return Injected::None;
        }
        self.requests += 1;
        if self.faults.stall_from.is_some_and(|n| self.requests >= n) {
            return Injected::Stall;
        }
        if due(&mut self.drop_carry, self.faults.drop_rate) {
            return Injected::Drop;
        }
        if due(&mut self.throttle_carry, self.faults.throttle_rate) {
            return Injected::Throttle(self.faults.retry_after_seconds.unwrap_or(1));
        }
        if due(&mut self.error_carry, self.faults.error_rate) {
            return Injected::Status(self.faults.error_code.unwrap_or(500));
        }
        if matches!(method, "POST" | "PUT" | "PATCH" | "DELETE")
            && let Some(n) = self.faults.conflict_every.filter(|n| *n > 0)
        {
            self.writes += 1;
            if self.writes.is_multiple_of(u64::from(n)) {
                return Injected::Status(409);
            }
        }
        Injected::None
    }
}

/// One request as the simulator saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// Sequence number from 1.
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query string.
    pub query: String,
    /// Status code answered (0 when the connection was dropped).
    pub status: u16,
    /// Time to answer, in milliseconds.
    pub latency_ms: u64,
    /// Milliseconds since the simulator started.
    pub at_ms: u64,
    /// Whether a fault decided the answer.
    pub injected: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_third_write_conflicts() {
        let mut inj = Injector::default();
        inj.set(Faults {
            conflict_every: Some(3),
            ..Faults::default()
        });
        let got: Vec<Injected> = (0..7)
            .map(|i| inj.decide(if i == 3 { "GET" } else { "PUT" }, "/api/v1/x"))
            .collect();
        use Injected::*;
        assert_eq!(
            got,
            vec![None, None, Status(409), None, None, None, Status(409)]
        );
    }

    #[test]
    fn rates_are_exact() {
        let mut inj = Injector::default();
        inj.set(Faults {
            error_rate: 0.1,
            ..Faults::default()
        });
        let errors = (0..100)
            .filter(|_| inj.decide("GET", "/api") != Injected::None)
            .count();
        assert_eq!(errors, 10);
    }
}
