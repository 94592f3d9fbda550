//! A real Prometheus (Debian's `prometheus` binary) scraping the simulator's metrics port, for
//! tests and the demo: started on a free loopback port with its own temporary storage, stopped
//! (and its files removed) on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Prometheus.
pub struct Prometheus {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    dir: PathBuf,
}

impl Prometheus {
    /// Whether the `prometheus` binary is on PATH.
    pub fn available() -> bool {
        Command::new("prometheus")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts Prometheus scraping `target` (`host:port`) every second.
    pub fn start(target: &str) -> std::io::Result<Prometheus> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = std::env::temp_dir().join(format!(
            "canary-sim-prometheus-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n  - job_name: ingress-nginx\n    static_configs: [{{targets: [\"{target}\"]}}]\n"
            ),
        )?;
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        })
    }

    /// Waits (polling, at most `limit`) until the target has been scraped at least `samples`
    /// times, so rates over short windows have data.
    pub fn wait_for_samples(&self, samples: u32, limit: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            if crate::client::instant_query(&self.url, "count_over_time(up[1m])")
                .is_some_and(|n| n >= f64::from(samples))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        false
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
