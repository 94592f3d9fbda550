//! The `canary-sim serve` binary: one line with the URLs, a kubeconfig once ready, the token,
//! and a clean stop on SIGTERM.

use crate::support::http;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn serve_prints_urls_writes_a_kubeconfig_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_canary-sim"))
        .args(["serve", "--kubeconfig"])
        .arg(&kubeconfig)
        .args(["--ready-after", "200ms", "--rps", "5", "--token", "s3cret"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        (words[0], words[1], words[3], words[5]),
        ("canary-sim:", "API", "metrics", "kubeconfig"),
        "{line}"
    );
    let api = words[2].to_string();
    assert!(api.starts_with("http://127.0.0.1:"), "{line}");
    let config = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(
        config.contains(&format!("server: {api}")) && config.contains("token: s3cret"),
        "{config}"
    );

    // The token is required.
    assert_eq!(
        http("GET", &format!("{api}/api/v1/namespaces"), None).0,
        401
    );
    let addr = api.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    use std::io::{Read, Write};
    write!(s, "GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\nConnection: close\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\"default\""), "{reply}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "canary-sim did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the port is closed after the stop"
    );
}
