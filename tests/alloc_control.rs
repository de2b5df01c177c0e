//! `rove alloc signal`, `rove alloc restart` and `rove alloc stop` through a real dev agent.

mod common;

use common::{wait_until, Agent, TempDir};
use std::time::Duration;

#[test]
fn alloc_signal_reaches_the_task_restart_reruns_it_and_stop_replaces_the_allocation() {
    let dir = TempDir::new("alloc-control");
    let agent = Agent::dev(dir.path());
    let hcl = r#"
job "svc" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "trap 'echo got-usr1' USR1; echo ready; while true; do sleep 0.1; done"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"#;
    let id = agent.run_until_running(dir.path(), "svc", hcl);
    wait_until(Duration::from_secs(10), "the trap to be set", || {
        agent.cli_ok(&["alloc", "logs", &id]).contains("ready").then_some(())
    });
    agent.cli_ok(&["alloc", "signal", "-s", "SIGUSR1", &id[..8]]);
    wait_until(Duration::from_secs(10), "the signal to arrive", || {
        agent.cli_ok(&["alloc", "logs", &id]).contains("got-usr1").then_some(())
    });
    let bad = agent.cli(&["alloc", "signal", "-s", "SIGNOPE", &id]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown signal"), "{bad:?}");
    let missing = agent.cli(&["alloc", "signal", "-s", "SIGUSR1", &id, "nosuchtask"]);
    assert_eq!(missing.status.code(), Some(1));

    agent.cli_ok(&["alloc", "restart", &id[..8]]);
    wait_until(Duration::from_secs(20), "the task to start again in place", || {
        let alloc = agent.get(&format!("/v1/allocation/{id}"));
        let task = &alloc["TaskStates"]["t"];
        let signalled = task["Events"].as_array().unwrap().iter().any(|e| e["Type"] == "Restart Signaled");
        (task["Restarts"] == 1 && task["State"] == "running" && signalled).then_some(())
    });
    wait_until(Duration::from_secs(10), "the same allocation to run the task again", || {
        (agent.cli_ok(&["alloc", "logs", &id]).matches("ready").count() == 2).then_some(())
    });
    assert_eq!(agent.cli(&["alloc", "restart", &id, "nosuchtask"]).status.code(), Some(1));

    let out = agent.cli_ok(&["alloc", "stop", &id[..8]]);
    assert!(out.contains("Monitoring evaluation"), "{out}");
    let allocs = agent.wait_allocs("svc", "a replacement running and the old one stopped", |a| {
        let old_stopped = a.iter().any(|x| x["ID"] == id.as_str() && x["DesiredStatus"] == "stop");
        let new_running = a.iter().any(|x| x["ID"] != id.as_str() && x["ClientStatus"] == "running");
        old_stopped && new_running
    });
    let old = allocs.iter().find(|x| x["ID"] == id.as_str()).unwrap();
    assert_eq!(old["DesiredDescription"], "alloc was stopped by a user");
    agent.cli_ok(&["job", "stop", "-detach", "svc"]);
}
