//! `job plan` through a real dev agent: the diff, the allocation changes per group, failed
//! placements with their reasons, Nomad's exit codes, and nothing changed on the servers.

mod common;

use common::{job_file, Agent, TempDir};

fn job(count: u32, meta: &str, constraint: &str) -> String {
    format!(
        r#"
job "web" {{
  meta {{
    owner = "{meta}"
  }}
  group "app" {{
    count = {count}
    {constraint}
    task "server" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sleep"
        args    = ["600"]
      }}
      resources {{
        cpu    = 20
        memory = 16
      }}
    }}
  }}
}}
"#
    )
}

fn plan(agent: &Agent, file: &str) -> (Option<i32>, String) {
    let out = agent.cli(&["job", "plan", file]);
    (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
}

#[test]
fn plan_shows_diff_updates_and_failures_and_changes_nothing() {
    let dir = TempDir::new("plan");
    let agent = Agent::dev(dir.path());
    let first = job_file(dir.path(), "web.hcl", &job(2, "ops", ""));

    let (code, out) = plan(&agent, &first);
    assert_eq!(code, Some(1), "new allocations: exit 1\n{out}");
    assert!(out.contains("+ Job: \"web\""), "{out}");
    assert!(out.contains("+ Task Group: \"app\" (2 create)"), "{out}");
    assert!(out.contains("- All tasks successfully allocated."), "{out}");
    assert!(out.contains("Job Modify Index: 0"), "{out}");
    let (status, _) = agent.try_get("/v1/job/web").unwrap();
    assert_eq!(status, 404, "a plan registers nothing");

    agent.cli_ok(&["job", "run", "-detach", &first]);
    agent.wait_allocs("web", "two running allocations", |a| a.len() == 2);
    let index = agent.get("/v1/job/web")["JobModifyIndex"].as_u64().unwrap();

    let scaled = job_file(dir.path(), "scaled.hcl", &job(3, "ops", ""));
    let (code, out) = plan(&agent, &scaled);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("+/- Job: \"web\""), "{out}");
    assert!(out.contains("+/- Task Group: \"app\" (1 create, 2 in-place update)"), "{out}");
    assert!(out.contains("+/- Count: \"2\" => \"3\""), "{out}");
    assert!(out.contains(&format!("Job Modify Index: {index}")), "{out}");
    assert!(out.contains(&format!("rove job run -check-index {index} {scaled}")), "{out}");

    let relabelled = job_file(dir.path(), "meta.hcl", &job(2, "sre", ""));
    let (code, out) = plan(&agent, &relabelled);
    assert_eq!(code, Some(0), "an in-place update creates nothing: exit 0\n{out}");
    assert!(out.contains("+/- Meta.owner: \"ops\" => \"sre\""), "{out}");
    assert!(out.contains("(2 in-place update)"), "{out}");

    let windows = "constraint {\n attribute = \"${attr.kernel.name}\"\n value = \"windows\"\n }";
    let impossible = job_file(dir.path(), "windows.hcl", &job(2, "ops", windows));
    let (_, out) = plan(&agent, &impossible);
    assert!(out.contains("- WARNING: Failed to place all allocations."), "{out}");
    assert!(out.contains("Constraint \"${attr.kernel.name} = windows\": 1 nodes excluded by filter"), "{out}");

    let after = agent.get("/v1/job/web");
    assert_eq!(after["JobModifyIndex"].as_u64(), Some(index), "plans change nothing");
    assert_eq!(agent.allocs("web").len(), 2);
    agent.cli_ok(&["job", "run", "-detach", "-check-index", &index.to_string(), &scaled]);
    assert_eq!(agent.get("/v1/job/web")["TaskGroups"][0]["Count"], 3);

    let (code, out) = plan(&agent, "/nonexistent/job.hcl");
    assert_eq!(code, Some(255), "errors exit 255\n{out}");
}
