//! Requests per second the simulator serves: GET of one object and PUT (replace) of one
//! object, over keep-alive HTTP/1.1 connections from 2 client threads. Run with
//! `cargo bench -p canary-gate-sim --bench api`; prints a table.

// A benchmark's setup failing has nothing to recover: it stops with the reason.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use canary_gate_sim::{Sim, SimConfig};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const THREADS: usize = 2;
const PER_THREAD: usize = 5_000;

/// Sends `n` requests on one keep-alive connection; returns how many answered `want`.
fn hammer(addr: &str, method: &str, path: &str, body: &str, n: usize, want: u16) -> usize {
    hammer_with(addr, method, path, n, want, |_| body.to_string())
}

/// Like [`hammer`], with a body made per request (so every replace really changes the object).
fn hammer_with(
    addr: &str,
    method: &str,
    path: &str,
    n: usize,
    want: u16,
    body: impl Fn(usize) -> String,
) -> usize {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let mut good = 0;
    for i in 0..n {
        let body = body(i);
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        writer.write_all(request.as_bytes()).expect("write");
        let mut status_line = String::new();
        reader.read_line(&mut status_line).expect("status");
        let code: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("header");
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut buf = vec![0u8; length];
        reader.read_exact(&mut buf).expect("body");
        good += usize::from(code == want);
    }
    good
}

/// Each client thread `t` works on its own ConfigMap `bench-<t>`.
fn measure(addr: &str, method: &'static str, changing: bool, want: u16) -> (f64, usize) {
    let start = Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let addr = addr.to_string();
            std::thread::spawn(move || {
                let path = format!("/api/v1/namespaces/default/configmaps/bench-{t}");
                hammer_with(&addr, method, &path, PER_THREAD, want, |i| {
                    if changing {
                        format!(r#"{{"metadata":{{"name":"bench-{t}","namespace":"default"}},"data":{{"n":"{i}"}}}}"#)
                    } else {
                        String::new()
                    }
                })
            })
        })
        .collect();
    let good: usize = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    let secs = start.elapsed().as_secs_f64();
    ((THREADS * PER_THREAD) as f64 / secs, good)
}

fn main() {
    let sim = Sim::start(SimConfig {
        tick: Duration::from_millis(50),
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let addr = sim.api_url.trim_start_matches("http://").to_string();
    let path = "/api/v1/namespaces/default/configmaps";
    for t in 0..THREADS {
        let object = format!(
            r#"{{"metadata":{{"name":"bench-{t}","namespace":"default"}},"data":{{"n":"start"}}}}"#
        );
        assert_eq!(hammer(&addr, "POST", path, &object, 1, 201), 1);
    }
    let _warm_up = measure(&addr, "GET", false, 200);
    let (get_rps, get_ok) = measure(&addr, "GET", false, 200);
    let before = sim.with_state(|s| s.store.resource_version());
    let (put_rps, put_ok) = measure(&addr, "PUT", true, 200);
    let writes = sim.with_state(|s| s.store.resource_version()) - before;
    let total = THREADS * PER_THREAD;
    assert_eq!((get_ok, put_ok), (total, total), "every request answered");
    println!("| request | requests/s | requests | client threads |");
    println!("|---|---|---|---|");
    println!("| GET configmap | {get_rps:.0} | {total} | {THREADS} |");
    println!("| PUT configmap (replace) | {put_rps:.0} | {total} | {THREADS} |");
    println!(
        "replace writes that changed the object: {writes}; request log entries: {}",
        sim.requests().len()
    );
}
