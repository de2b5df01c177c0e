//! Host volumes through a real dev agent: the client offers host directories by name, the
//! scheduler places a group only where the volumes it asks for are offered, and exec tasks
//! see them at their `volume_mount` destination, read-only where any side says so.

mod common;

use common::{job_file, Agent, TempDir, NO_RETRIES};
use std::time::Duration;

fn job(name: &str, source: &str, read_only: bool, script: &str) -> String {
    format!(
        r#"
job "{name}" {{
  type = "batch"
  group "g" {{
    volume "data" {{
      type      = "host"
      source    = "{source}"
      read_only = {read_only}
    }}
{NO_RETRIES}    task "t" {{
      driver = "exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "{script}"]
      }}
      volume_mount {{
        volume      = "data"
        destination = "/srv/data"
      }}
    }}
  }}
}}
"#
    )
}

#[test]
fn exec_tasks_write_to_host_volumes_only_where_offered_and_writable() {
    let dir = TempDir::new("host-volumes");
    let shared = dir.path().join("shared");
    let frozen = dir.path().join("frozen");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::create_dir_all(&frozen).unwrap();
    std::fs::write(frozen.join("seed.txt"), "seeded\n").unwrap();
    let config = format!(
        "client {{\n  host_volume \"shared\" {{\n    path = \"{}\"\n  }}\n  host_volume \"frozen\" {{\n    path = \"{}\"\n    read_only = true\n  }}\n}}\n",
        shared.display(),
        frozen.display()
    );
    let agent = Agent::start(dir.path(), "dev", &config, &["-dev"]);
    agent.wait_ready();
    let node = &agent.get("/v1/nodes")[0];
    let node = agent.get(&format!("/v1/node/{}", node["ID"].as_str().unwrap()));
    assert_eq!(node["HostVolumes"]["shared"]["Path"], shared.display().to_string(), "{node:#}");
    assert_eq!(node["HostVolumes"]["frozen"]["ReadOnly"], true);

    // A writable volume: the task's file lands in the host directory (owned by nobody,
    // so the directory must let it write).
    std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let writer = job("writer", "shared", false, "echo written-by-task > /srv/data/out.txt");
    agent.cli_ok(&["job", "run", &job_file(dir.path(), "writer.hcl", &writer)]);
    agent.wait_allocs("writer", "the writer to finish", |a| a.iter().any(|a| a["ClientStatus"] == "complete"));
    assert_eq!(std::fs::read_to_string(shared.join("out.txt")).unwrap(), "written-by-task\n");

    // A volume the node offers read-only: a group that wants to write cannot be placed...
    let greedy = job("greedy", "frozen", false, "true");
    let plan = agent.cli(&["job", "plan", &job_file(dir.path(), "greedy.hcl", &greedy)]);
    let out = String::from_utf8_lossy(&plan.stdout);
    assert!(out.contains("missing compatible host volumes"), "{out}");

    // ...one that only reads sees the files, and cannot write.
    let reader = job("reader", "frozen", true, "cat /srv/data/seed.txt && ! touch /srv/data/new.txt");
    agent.cli_ok(&["job", "run", &job_file(dir.path(), "reader.hcl", &reader)]);
    let allocs = agent.wait_allocs("reader", "the reader to finish", |a| {
        a.iter().any(|a| a["ClientStatus"] == "complete" || a["ClientStatus"] == "failed")
    });
    assert_eq!(allocs[0]["ClientStatus"], "complete", "{allocs:#?}");
    assert!(!frozen.join("new.txt").exists());
    let logs = agent.cli_ok(&["alloc", "logs", allocs[0]["ID"].as_str().unwrap()]);
    assert!(logs.contains("seeded"), "{logs}");

    // A volume no node offers: the job stays unplaced, with the reason.
    let missing = job("missing", "nonesuch", true, "true");
    let plan = agent.cli(&["job", "plan", &job_file(dir.path(), "missing.hcl", &missing)]);
    assert_eq!(plan.status.code(), Some(0), "nothing would be created or destroyed");
    assert!(String::from_utf8_lossy(&plan.stdout).contains("missing compatible host volumes"));
}

#[test]
fn an_agent_refuses_a_host_volume_whose_path_is_missing() {
    let dir = TempDir::new("host-volume-missing");
    let config = "client {\n  host_volume \"gone\" {\n    path = \"/nonexistent/rove-volume\"\n  }\n}\n";
    let mut agent = Agent::start(dir.path(), "dev", config, &["-dev"]);
    let status = common::wait_until(Duration::from_secs(20), "the agent to exit", || {
        agent.child.as_mut().unwrap().try_wait().unwrap()
    });
    assert!(!status.success());
    let logs = agent.logs();
    assert!(logs.contains("host_volume \"gone\"") && logs.contains("/nonexistent/rove-volume"), "{logs}");
    agent.child = None;
}
