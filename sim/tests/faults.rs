//! Fault injection and the request log, from the library and over HTTP.

use crate::support::http;
use canary_gate_sim::{Faults, Sim, SimConfig};
use serde_json::Value;

#[test]
fn every_third_write_conflicts_and_the_log_shows_it() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    sim.set_faults(Faults {
        conflict_every: Some(3),
        ..Faults::default()
    });
    let url = format!("{}/api/v1/namespaces/default/configmaps", sim.api_url);
    let mut codes = Vec::new();
    for i in 0..9 {
        let body = format!(r#"{{"metadata":{{"name":"cm-{i}"}},"data":{{"n":"{i}"}}}}"#);
        codes.push(http("POST", &url, Some(&body)).0);
        // Reads do not count as writes.
        assert_eq!(http("GET", &url, None).0, 200);
    }
    assert_eq!(codes, vec![201, 201, 409, 201, 201, 409, 201, 201, 409]);
    let posts: Vec<(u16, bool)> = sim
        .requests()
        .iter()
        .filter(|e| e.method == "POST")
        .map(|e| (e.status, e.injected))
        .collect();
    assert_eq!(posts.iter().filter(|(s, inj)| *s == 409 && *inj).count(), 3);
    let (_, list) = http("GET", &url, None);
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        6,
        "conflicted creates stored nothing"
    );
}

#[test]
fn faults_and_log_over_http() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    let admin = format!("{}/_sim", sim.api_url);
    let (code, _) = http(
        "PUT",
        &format!("{admin}/faults"),
        Some(
            r#"{"throttleRate": 1.0, "retryAfterSeconds": 2, "pathPrefix": "/api/v1/namespaces/default/secrets"}"#,
        ),
    );
    assert_eq!(code, 200);
    assert_eq!(
        http(
            "GET",
            &format!("{}/api/v1/namespaces/default/secrets", sim.api_url),
            None
        )
        .0,
        429
    );
    assert_eq!(
        http(
            "GET",
            &format!("{}/api/v1/namespaces/default/configmaps", sim.api_url),
            None
        )
        .0,
        200,
        "other paths unaffected"
    );
    let (code, _) = http(
        "PUT",
        &format!("{admin}/faults"),
        Some(r#"{"errorRate": 0.5, "errorCode": 503}"#),
    );
    assert_eq!(code, 200);
    let codes: Vec<u16> = (0..4)
        .map(|_| http("GET", &format!("{}/version", sim.api_url), None).0)
        .collect();
    assert_eq!(codes, vec![200, 503, 200, 503]);
    let (code, body) = http(
        "PUT",
        &format!("{admin}/faults"),
        Some(r#"{"errorRatio": 1}"#),
    );
    assert_eq!(code, 400, "unknown fault fields are refused: {body}");
    let (code, log) = http("GET", &format!("{admin}/requests"), None);
    assert_eq!(code, 200);
    let log: Vec<Value> = serde_json::from_str(&log).unwrap();
    assert_eq!(log.len(), 6, "admin calls are not logged");
    assert_eq!(log[0]["status"], 429);
    assert_eq!(log[0]["path"], "/api/v1/namespaces/default/secrets");
    assert_eq!(log[0]["injected"], true);
    assert_eq!(http("DELETE", &format!("{admin}/requests"), None).0, 200);
    assert!(sim.requests().is_empty());
}

#[test]
fn dropped_connections_and_latency() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    sim.set_faults(Faults {
        drop_rate: 1.0,
        ..Faults::default()
    });
    let addr = sim.api_url.trim_start_matches("http://").to_string();
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(buf.is_empty(), "the connection closes without an answer");
    sim.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let start = std::time::Instant::now();
    assert_eq!(
        http("GET", &format!("{}/version", sim.api_url), None).0,
        200
    );
    assert!(start.elapsed() >= std::time::Duration::from_millis(300));
    assert_eq!(sim.requests().last().unwrap().status, 200);
}
