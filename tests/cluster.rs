//! Several agents on one machine: a server-only agent and client-only agents that reach it
//! over RPC. A client that dies stops heartbeating; the server marks its node down and the
//! scheduler replaces its allocations on another node.

mod common;

use common::{job_file, wait_until, Agent, TempDir};
use std::time::Duration;

const FAST_HEARTBEATS: &str =
    "server {\n  enabled = true\n  bootstrap_expect = 1\n  min_heartbeat_ttl = \"1s\"\n  heartbeat_grace = \"1s\"\n}";

fn client_config(server_rpc: u16) -> String {
    format!(
        "client {{\n  enabled = true\n  servers = [\"127.0.0.1:{server_rpc}\"]\n}}\nplugin \"raw_exec\" {{\n  config {{\n    enabled = true\n  }}\n}}"
    )
}

const JOB: &str = r#"
job "lonely" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "sleep 1000; : MARKER"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"#;

fn ready_nodes(server: &Agent) -> usize {
    server.get("/v1/nodes").as_array().unwrap().iter().filter(|n| n["Status"] == "ready").count()
}

#[test]
fn allocations_of_a_dead_node_are_replaced_on_another() {
    let dir = TempDir::new("cluster");
    let server = Agent::start(dir.path(), "server", FAST_HEARTBEATS, &[]);
    wait_until(Duration::from_secs(20), "server leadership", || {
        (!server.try_get("/v1/status/leader").ok()?.1.as_str()?.is_empty()).then_some(())
    });
    let mut clients = [
        Agent::start(dir.path(), "client-a", &client_config(server.rpc_port), &[]),
        Agent::start(dir.path(), "client-b", &client_config(server.rpc_port), &[]),
    ];
    wait_until(Duration::from_secs(30), "two ready nodes", || (ready_nodes(&server) == 2).then_some(()));

    // A client-only agent forwards server endpoints to the server.
    let marker = format!("rove-cluster-test-{}", std::process::id());
    let file = job_file(dir.path(), "lonely.hcl", &JOB.replace("MARKER", &marker));
    let out = clients[0].cli_ok(&["job", "run", &file]);
    assert!(out.contains("finished with status \"complete\""), "{out}");
    let allocs = server.wait_allocs("lonely", "alloc running", |a| a.len() == 1 && a[0]["ClientStatus"] == "running");
    let first = allocs[0].clone();
    let node_id = first["NodeID"].as_str().unwrap().to_string();
    let victim = clients
        .iter()
        .position(|c| c.get("/v1/agent/self")["stats"]["client"]["node_id"] == node_id.as_str())
        .expect("the node running the alloc is one of the clients");
    clients[victim].kill();
    // The killed agent's task is orphaned (reattaching is the client's own issue); end it.
    let orphans = common::KillOnDrop(marker.clone());

    let node = wait_until(Duration::from_secs(30), "node marked down", || {
        let node = server.get(&format!("/v1/node/{node_id}"));
        (node["Status"] == "down").then_some(node)
    });
    assert_eq!(node["StatusDescription"], "node heartbeat missed");
    let allocs = server.wait_allocs("lonely", "replacement running elsewhere", |a| {
        a.iter().any(|x| x["ClientStatus"] == "running" && x["NodeID"] != node_id.as_str())
    });
    let lost = allocs.iter().find(|a| a["ID"] == first["ID"]).unwrap();
    assert_eq!(lost["ClientStatus"], "lost");
    assert_eq!(lost["DesiredStatus"], "stop");
    let replacement = allocs.iter().find(|a| a["ClientStatus"] == "running").unwrap();
    assert_eq!(replacement["Name"], "lonely.g[0]", "the replacement takes the lost slot");

    // The survivor's view through its own API (forwarded) agrees.
    let survivor = &clients[1 - victim];
    let status = survivor.cli_ok(&["job", "status", "lonely"]);
    assert!(status.contains("lost"), "{status}");
    drop(orphans);
    common::remove_task_cgroups(first["ID"].as_str().unwrap());
}

/// A server outage (a minute by default; `ROVE_OUTAGE_SECS` shortens it): the client's
/// tasks keep running, a task that finishes meanwhile is reported once the server is back,
/// and nothing is replaced.
#[test]
fn a_client_keeps_its_tasks_through_a_server_outage_and_reports_afterwards() {
    let outage = Duration::from_secs(std::env::var("ROVE_OUTAGE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60));
    let dir = TempDir::new("outage");
    let mut server = Agent::start(dir.path(), "server", "server {\n  enabled = true\n}", &[]);
    wait_until(Duration::from_secs(20), "server leadership", || {
        (!server.try_get("/v1/status/leader").ok()?.1.as_str()?.is_empty()).then_some(())
    });
    let client = Agent::start(dir.path(), "client", &client_config(server.rpc_port), &[]);
    wait_until(Duration::from_secs(30), "the node ready", || (ready_nodes(&server) == 1).then_some(()));
    let marker = format!("rove-outage-test-{}", std::process::id());
    let _cleanup = common::KillOnDrop(marker.clone());
    server.cli_ok(&["job", "run", &job_file(dir.path(), "lonely.hcl", &JOB.replace("MARKER", &marker))]);
    let running = server.wait_allocs("lonely", "alloc running", |a| a.len() == 1 && a[0]["ClientStatus"] == "running");
    let finisher = format!(
        "job \"finisher\" {{\n  type = \"batch\"\n  group \"g\" {{\n    task \"t\" {{\n      driver = \"raw_exec\"\n      config {{\n        command = \"/bin/sh\"\n        args = [\"-c\", \"sleep {}\"]\n      }}\n    }}\n  }}\n}}\n",
        outage.as_secs() / 2
    );
    server.cli_ok(&["job", "run", "-detach", &job_file(dir.path(), "finisher.hcl", &finisher)]);
    server.wait_allocs("finisher", "the batch task running", |a| a.iter().any(|a| a["ClientStatus"] == "running"));

    assert!(server.stop().success());
    std::thread::sleep(outage);
    assert!(common::process_running(&marker), "the service task kept running without servers");
    server.restart(&[]);
    wait_until(Duration::from_secs(30), "server leadership again", || {
        (!server.try_get("/v1/status/leader").ok()?.1.as_str()?.is_empty()).then_some(())
    });
    server.wait_allocs("finisher", "the batch task's end reported", |a| {
        a.iter().any(|a| a["ClientStatus"] == "complete")
    });
    let lonely = server.allocs("lonely");
    assert_eq!(lonely.len(), 1, "nothing replaced: {lonely:?}");
    assert_eq!(lonely[0]["ID"], running[0]["ID"]);
    assert_eq!(lonely[0]["ClientStatus"], "running");
    wait_until(Duration::from_secs(30), "the node ready", || (ready_nodes(&server) == 1).then_some(()));
    drop(client);
}
