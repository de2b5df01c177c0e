//! Periodic and parameterized jobs through a real dev agent: the parent is a template that
//! runs nothing itself; children are launched on schedule, by `job periodic force` and by
//! `job dispatch` with a payload and meta values the task sees.

mod common;

use common::{job_file, wait_until, Agent, TempDir};
use serde_json::Value;
use std::time::Duration;

fn children(agent: &Agent, parent: &str) -> Vec<Value> {
    let jobs = agent.get(&format!("/v1/jobs?prefix={parent}/"));
    jobs.as_array().unwrap().iter().filter(|j| j["ParentID"] == parent).cloned().collect()
}

#[test]
fn periodic_jobs_launch_children_on_schedule_and_on_demand() {
    let dir = TempDir::new("periodic");
    let agent = Agent::dev(dir.path());
    let hcl = r#"
job "tick" {
  type = "batch"
  periodic {
    crons            = ["*/2 * * * * *"]
    prohibit_overlap = true
    time_zone        = "Europe/Berlin"
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo tick"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"#;
    let out = agent.cli_ok(&["job", "run", &job_file(dir.path(), "tick.hcl", hcl)]);
    assert!(out.contains("Job registration successful") && out.contains("Approximate next launch time"), "{out}");
    let parent = agent.get("/v1/job/tick");
    assert_eq!(parent["Status"], "running");
    assert!(agent.allocs("tick").is_empty(), "the parent itself never runs");

    let launched =
        wait_until(Duration::from_secs(15), "a scheduled launch", || children(&agent, "tick").into_iter().next());
    let id = launched["ID"].as_str().unwrap().to_string();
    assert!(id.starts_with("tick/periodic-"), "{id}");
    let encoded = id.replace('/', "%2F");
    wait_until(Duration::from_secs(15), "the child to run to completion", || {
        let allocs = agent.get(&format!("/v1/job/{encoded}/allocations"));
        allocs.as_array().unwrap().iter().any(|a| a["ClientStatus"] == "complete").then_some(())
    });

    let out = agent.cli_ok(&["job", "periodic", "force", "-detach", "tick"]);
    let eval_id = out.trim().rsplit(' ').next().unwrap();
    let eval = agent.get(&format!("/v1/evaluation/{eval_id}"));
    assert_eq!(eval["TriggeredBy"], "periodic-job", "{out}");
    let forced = eval["JobID"].as_str().unwrap().to_string();
    assert!(forced.starts_with("tick/periodic-") && forced != id, "force launches a new child: {forced}");
    assert!(children(&agent, "tick").iter().any(|c| c["ID"] == forced.as_str()));
    assert!(agent.cli(&["job", "periodic", "force", "nonesuch"]).status.code() == Some(1));
}

#[test]
fn dispatch_passes_payload_and_meta_and_checks_them() {
    let dir = TempDir::new("dispatch");
    let agent = Agent::dev(dir.path());
    let hcl = r#"
job "render" {
  type = "batch"
  parameterized {
    payload       = "required"
    meta_required = ["customer"]
    meta_optional = ["colour"]
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      dispatch_payload {
        file = "input/order.txt"
      }
      config {
        command = "/bin/sh"
        args    = ["-c", "cat local/input/order.txt; echo \"for $NOMAD_META_customer\""]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"#;
    let out = agent.cli_ok(&["job", "run", &job_file(dir.path(), "render.hcl", hcl)]);
    assert!(out.contains("Job registration successful") && !out.contains("next launch"), "{out}");
    assert!(agent.allocs("render").is_empty());

    let payload = dir.path().join("order.txt");
    std::fs::write(&payload, "two pizzas\n").unwrap();
    let payload = payload.to_str().unwrap();
    let out = agent.cli_ok(&["job", "dispatch", "-meta", "customer=acme", "render", payload]);
    assert!(out.contains("Dispatched Job ID = render/dispatch-"), "{out}");
    assert!(out.contains("finished with status \"complete\""), "{out}");
    let child = children(&agent, "render").pop().unwrap();
    assert_eq!(child["ID"].as_str().unwrap().split('/').next(), Some("render"));
    let encoded = child["ID"].as_str().unwrap().replace('/', "%2F");
    let alloc = wait_until(Duration::from_secs(15), "the dispatched job to complete", || {
        let allocs = agent.get(&format!("/v1/job/{encoded}/allocations"));
        allocs.as_array().unwrap().iter().find(|a| a["ClientStatus"] == "complete").cloned()
    });
    assert_eq!(agent.cli_ok(&["alloc", "logs", alloc["ID"].as_str().unwrap()]), "two pizzas\nfor acme\n");

    let refused = |args: &[&str], why: &str| {
        let out = agent.cli(args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(why), "{why:?} not in {err}");
    };
    refused(&["job", "dispatch", "render", payload], "did not provide required meta keys: [\"customer\"]");
    refused(&["job", "dispatch", "-meta", "customer=a", "render"], "Payload is not provided but required");
    refused(
        &["job", "dispatch", "-meta", "customer=a", "-meta", "size=xl", "render", payload],
        "unpermitted meta keys",
    );
    assert_eq!(children(&agent, "render").len(), 1, "refused dispatches create nothing");
}
