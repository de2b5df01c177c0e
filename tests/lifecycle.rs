//! Task lifecycles through a real dev agent: prestart tasks (one a sidecar) before the main
//! task, a poststart task once it runs, a poststop task at the end; a leader whose end stops
//! its siblings; `shutdown_delay` before a stopped task is signalled.

mod common;

use common::{job_file, wait_until, Agent, TempDir};
use serde_json::Value;
use std::time::{Duration, Instant};

fn task(name: &str, lifecycle: &str, extra: &str, script: &str) -> String {
    format!(
        r#"
    task "{name}" {{
      driver = "raw_exec"
      {lifecycle}
      {extra}
      config {{
        command = "/bin/sh"
        args    = ["-c", "{script}"]
      }}
    }}"#
    )
}

fn batch(name: &str, tasks: &[String]) -> String {
    format!(
        "job \"{name}\" {{\n  type = \"batch\"\n  group \"g\" {{\n    restart {{\n      attempts = 0\n      mode = \"fail\"\n    }}\n{}\n  }}\n}}\n",
        tasks.join("\n")
    )
}

fn finished(agent: &Agent, job: &str) -> Value {
    let allocs = agent.wait_allocs(job, "the allocation to finish", |a| {
        a.iter().any(|a| a["ClientStatus"] == "complete" || a["ClientStatus"] == "failed")
    });
    agent.get(&format!("/v1/allocation/{}", allocs[0]["ID"].as_str().unwrap()))
}

#[test]
fn tasks_run_in_lifecycle_order_and_sidecars_end_with_the_main_task() {
    let dir = TempDir::new("lifecycle");
    let agent = Agent::dev(dir.path());
    let log = "$NOMAD_ALLOC_DIR/order";
    let tasks = [
        task("init", "lifecycle {\n        hook = \"prestart\"\n      }", "", &format!("echo init >> {log}")),
        task(
            "proxy",
            "lifecycle {\n        hook = \"prestart\"\n        sidecar = true\n      }",
            "",
            &format!("echo proxy >> {log}; sleep 300"),
        ),
        task("app", "", "", &format!("sleep 1; echo app >> {log}")),
        task("warm", "lifecycle {\n        hook = \"poststart\"\n      }", "", &format!("echo warm >> {log}")),
        task("cleanup", "lifecycle {\n        hook = \"poststop\"\n      }", "", &format!("echo cleanup >> {log}")),
    ];
    agent.cli_ok(&["job", "run", "-detach", &job_file(dir.path(), "order.hcl", &batch("order", &tasks))]);
    let alloc = finished(&agent, "order");
    assert_eq!(alloc["ClientStatus"], "complete", "{:#}", alloc["TaskStates"]);
    let states = &alloc["TaskStates"];
    assert_eq!(states["proxy"]["State"], "dead");
    assert_eq!(states["proxy"]["Failed"], false, "a sidecar stopped with the main task has not failed");
    let order = agent.cli_ok(&["alloc", "fs", alloc["ID"].as_str().unwrap(), "alloc/order"]);
    let lines: Vec<&str> = order.lines().collect();
    let mut prestart = lines[..2].to_vec();
    prestart.sort_unstable();
    assert_eq!(prestart, ["init", "proxy"], "{order}");
    assert_eq!(&lines[2..], ["warm", "app", "cleanup"], "{order}");
}

#[test]
fn a_leader_ending_stops_its_siblings_after_their_shutdown_delay() {
    let dir = TempDir::new("leader");
    let agent = Agent::dev(dir.path());
    let tasks =
        [task("leader", "leader = true", "", "sleep 1"), task("helper", "", "shutdown_delay = \"2s\"", "sleep 301")];
    let started = Instant::now();
    agent.cli_ok(&["job", "run", "-detach", &job_file(dir.path(), "led.hcl", &batch("led", &tasks))]);
    let alloc = finished(&agent, "led");
    assert!(started.elapsed() >= Duration::from_secs(3), "the helper waited its shutdown_delay");
    assert_eq!(alloc["ClientStatus"], "complete", "{:#}", alloc["TaskStates"]);
    let helper = &alloc["TaskStates"]["helper"];
    let events: Vec<&str> = helper["Events"].as_array().unwrap().iter().map(|e| e["Type"].as_str().unwrap()).collect();
    assert!(events.contains(&"Waiting for shutdown delay") && events.contains(&"Killed"), "{events:?}");
    wait_until(Duration::from_secs(5), "no sleeper left", || {
        common::pids_matching("sleep 301").is_empty().then_some(())
    });
}
