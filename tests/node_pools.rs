//! Node pools through a real dev agent: the client's pool comes into being when it
//! registers, pools are applied from HCL, listed, shown and deleted (not while in use, and
//! never the built-in ones), and jobs run only in a pool that exists and has their nodes.

mod common;

use common::{job_file, Agent, TempDir};

const JOB: &str = r#"
job "NAME" {
  node_pool = "POOL"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["300"]
      }
    }
  }
}
"#;

fn job(name: &str, pool: &str) -> String {
    JOB.replace("NAME", name).replace("POOL", pool)
}

#[test]
fn node_pools_are_made_listed_used_and_deleted() {
    let dir = TempDir::new("node-pools");
    let agent = Agent::start(dir.path(), "dev", "client {\n  node_pool = \"edge\"\n}\n", &["-dev"]);
    agent.wait_ready();

    let list = agent.cli_ok(&["node", "pool", "list"]);
    for pool in ["all", "default", "edge"] {
        assert!(list.lines().any(|l| l.starts_with(pool)), "{list}");
    }

    let spec = "node_pool \"batch-farm\" {\n  description = \"nightly batch\"\n  meta {\n    owner = \"ops\"\n  }\n}\n";
    let file = job_file(dir.path(), "pool.hcl", spec);
    agent.cli_ok(&["node", "pool", "apply", &file]);
    let info = agent.cli_ok(&["node", "pool", "info", "batch-farm"]);
    assert!(info.contains("nightly batch") && info.contains("owner") && info.contains("ops"), "{info}");
    let bad = job_file(dir.path(), "bad.hcl", "node_pool \"x\" {\n  descripton = \"typo\"\n}\n");
    let out = agent.cli(&["node", "pool", "apply", &bad]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("descripton"), "{out:?}");

    // A job in a pool nobody made is refused; one in the node's pool runs there.
    let out = agent.cli(&["job", "run", "-detach", &job_file(dir.path(), "lost.hcl", &job("lost", "nonesuch"))]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nonexistent node pool \"nonesuch\""), "{out:?}");
    agent.run_until_running(dir.path(), "edgy", &job("edgy", "edge"));
    assert!(agent.cli_ok(&["node", "pool", "jobs", "edge"]).contains("edgy"));
    assert!(agent.cli_ok(&["node", "pool", "nodes", "edge"]).contains("edge"));
    assert!(agent.cli_ok(&["node", "pool", "nodes", "all"]).contains("edge"));
    assert!(agent.cli_ok(&["node", "pool", "nodes", "batch-farm"]).contains("No nodes"));

    // Deleting: not a pool in use, not a built-in one.
    for (pool, why) in [("edge", "has nodes"), ("default", "not allowed"), ("all", "not allowed")] {
        let out = agent.cli(&["node", "pool", "delete", pool]);
        assert!(!out.status.success(), "deleting {pool}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(why), "{pool}: {out:?}");
    }
    agent.cli_ok(&["node", "pool", "delete", "batch-farm"]);
    let out = agent.cli(&["node", "pool", "info", "batch-farm"]);
    assert!(!out.status.success());
    agent.cli_ok(&["job", "stop", "-detach", "edgy"]);
}
