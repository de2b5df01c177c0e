//! Task resource usage through a real dev agent: an exec task's memory and CPU, read from
//! its cgroup, in `/v1/client/allocation/:id/stats` and `rove alloc status -stats`.

mod common;

use common::{http, Agent, TempDir};

#[test]
fn a_busy_exec_task_reports_its_cpu_and_memory() {
    let dir = TempDir::new("stats");
    let agent = Agent::dev(dir.path());
    let hcl = r#"
job "busy" {
  group "g" {
    task "spin" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "while :; do :; done"]
      }
      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
"#;
    let id = agent.run_until_running(dir.path(), "busy", hcl);
    let stats = agent.get(&format!("/v1/client/allocation/{id}/stats"));
    let task = &stats["Tasks"]["spin"]["ResourceUsage"];
    assert!(task["MemoryStats"]["Usage"].as_u64().unwrap() > 0, "{stats:#}");
    let percent = task["CpuStats"]["Percent"].as_f64().unwrap();
    assert!(percent > 5.0, "a busy loop keeps a core busy: {percent}% in {stats:#}");
    assert_eq!(stats["ResourceUsage"]["CpuStats"]["Percent"], task["CpuStats"]["Percent"], "one task: same totals");

    let out = agent.cli_ok(&["alloc", "status", "-stats", &id[..8]]);
    assert!(out.contains("% of a core/100 MHz") && out.contains("Memory Stats") && out.contains("CPU Stats"), "{out}");

    let (status, _) = http(agent.http_port, "GET", "/v1/client/allocation/nonesuch/stats", None).unwrap();
    assert_eq!(status, 404);
    agent.cli_ok(&["job", "stop", "-detach", "busy"]);
}
