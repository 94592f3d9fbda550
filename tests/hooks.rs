//! A local webhook receiver for the tests: answers each path with a configured status (and body
//! and headers, or not at all: a hang) and records every request (path, JSON body, headers).
//! Bounded: it stops when dropped, and a hung request is let go after 20 s.

use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// How a path is answered.
#[derive(Clone, Debug)]
pub struct Answer {
    /// Status code.
    pub code: u16,
    /// Body (default: `hook <path> says <code>`).
    pub body: Option<String>,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
    /// Never answer (the connection is held, then dropped after 20 s).
    pub hang: bool,
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub body: Value,
    /// Header names lower-cased.
    pub headers: HashMap<String, String>,
}

pub struct Hooks {
    pub url: String,
    answers: Arc<Mutex<HashMap<String, Vec<Answer>>>>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl Hooks {
    pub fn start() -> Hooks {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let answers: Arc<Mutex<HashMap<String, Vec<Answer>>>> = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (a, s, st) = (answers.clone(), seen.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let Some(request) = read_request(&conn) else {
                    continue;
                };
                let answer = next_answer(&a, &request.path);
                s.lock().unwrap().push(request.clone());
                respond(conn, &request.path, answer);
            }
        });
        Hooks {
            url: format!("http://127.0.0.1:{port}"),
            answers,
            seen,
            stop,
            port,
        }
    }

    /// Answers `path` with `code` from now on.
    pub fn answer(&self, path: &str, code: u16) {
        self.answers_in_turn(
            path,
            vec![Answer {
                code,
                body: None,
                headers: Vec::new(),
                hang: false,
            }],
        );
    }

    /// Answers `path` with these answers in turn, the last one from then on.
    pub fn answers_in_turn(&self, path: &str, answers: Vec<Answer>) {
        self.answers
            .lock()
            .unwrap()
            .insert(path.to_string(), answers);
    }

    /// Bodies received on `path`.
    pub fn bodies(&self, path: &str) -> Vec<Value> {
        self.requests(path).into_iter().map(|r| r.body).collect()
    }

    /// Requests received on `path`.
    pub fn requests(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

fn read_request(conn: &std::net::TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    let _ = reader.read_exact(&mut body);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Some(Seen {
        path,
        body,
        headers,
    })
}

/// The answer for `path` now (the queue's head, the last one staying).
fn next_answer(answers: &Mutex<HashMap<String, Vec<Answer>>>, path: &str) -> Answer {
    let mut map = answers.lock().unwrap();
    match map.get_mut(path) {
        Some(queue) if queue.len() > 1 => queue.remove(0),
        Some(queue) if !queue.is_empty() => queue[0].clone(),
        _ => Answer {
            code: 200,
            body: None,
            headers: Vec::new(),
            hang: false,
        },
    }
}

fn respond(mut conn: std::net::TcpStream, path: &str, answer: Answer) {
    if answer.hang {
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(20));
            drop(conn);
        });
        return;
    }
    let code = answer.code;
    let text = answer
        .body
        .unwrap_or_else(|| format!("hook {path} says {code}"));
    let extra: String = answer
        .headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let _ = write!(
        conn,
        "HTTP/1.1 {code} X\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{text}",
        text.len()
    );
}

impl Drop for Hooks {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}
