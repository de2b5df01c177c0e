//! The spine benchmark: starts a real dev agent and reports the median time from
//! `PUT /v1/jobs` to the task running, the agent's idle RSS, and the release binary's size.
//!
//! Run with `cargo bench --bench spine` (as root: the job uses the exec driver).

#[path = "../tests/common/mod.rs"]
mod common;

use common::{http, rss_kb, time_to_running, wait_until, Agent, TempDir, BIN};
use std::time::Duration;

const RUNS: usize = 25;

fn job_json(id: &str) -> String {
    serde_json::json!({
        "Job": {
            "ID": id,
            "TaskGroups": [{
                "Name": "g",
                "Count": 1,
                "Tasks": [{
                    "Name": "t",
                    "Driver": "exec",
                    "Config": { "command": "/bin/sleep", "args": ["1000"] },
                    "Resources": { "CPU": 20, "MemoryMB": 16 }
                }]
            }]
        }
    })
    .to_string()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let dir = TempDir::new("bench");
    let agent = Agent::dev(dir.path());
    let pid = agent.child.as_ref().unwrap().id();

    std::thread::sleep(Duration::from_secs(3));
    let idle_kb = rss_kb(pid);

    let mut times = Vec::with_capacity(RUNS);
    for i in 0..RUNS {
        let id = format!("bench-{i}");
        times.push(time_to_running(&agent, &id, &job_json(&id)));
        let (status, _) = http(agent.http_port, "DELETE", &format!("/v1/job/{id}?purge=true"), None).unwrap();
        assert_eq!(status, 200);
    }
    wait_until(Duration::from_secs(30), "benchmark tasks to stop", || {
        let allocs = agent.get("/v1/allocations");
        allocs.as_array().unwrap().is_empty().then_some(())
    });
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "spine/job-run-to-running: median {:.1} ms, p90 {:.1} ms, min {:.1} ms, max {:.1} ms (n={RUNS}, exec driver)",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.9)),
        ms(times[0]),
        ms(times[RUNS - 1])
    );
    println!("spine/dev-agent-idle-rss: {:.1} MB (after 3 s idle, before any job)", idle_kb as f64 / 1024.0);
    println!("spine/dev-agent-rss-after-{RUNS}-jobs: {:.1} MB", rss_kb(pid) as f64 / 1024.0);
    let size = std::fs::metadata(BIN).unwrap().len();
    println!("spine/binary-size: {:.2} MB ({BIN}; stripped when built with the release profile)", size as f64 / 1e6);
}
