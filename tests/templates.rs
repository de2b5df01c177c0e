//! Templates through a real dev agent: rendered into the task directory before the task
//! starts, from the task's environment; an `env = true` template feeds the task's
//! environment; a template rove cannot render fails the task, saying why and where.

mod common;

use common::{job_file, Agent, TempDir, NO_RETRIES};

fn job(name: &str, templates: &str, script: &str) -> String {
    format!(
        "job \"{name}\" {{\n  type = \"batch\"\n  group \"g\" {{\n{NO_RETRIES}    task \"t\" {{\n      driver = \"raw_exec\"\n{templates}\n      config {{\n        command = \"/bin/sh\"\n        args = [\"-c\", \"{script}\"]\n      }}\n    }}\n  }}\n}}\n"
    )
}

#[test]
fn templates_are_rendered_before_the_task_starts() {
    let dir = TempDir::new("templates");
    let agent = Agent::dev(dir.path());
    let templates = r#"
      template {
        data        = "task={{ env \"NOMAD_TASK_NAME\" | toUpper }} alloc={{ env \"NOMAD_ALLOC_INDEX\" }}\n"
        destination = "local/out.txt"
        perms       = "0600"
      }
      template {
        data        = "GREETING=hello from {{ env \"NOMAD_JOB_NAME\" }}\n"
        destination = "secrets/app.env"
        env         = true
      }"#;
    let file = job_file(
        dir.path(),
        "tpl.hcl",
        &job("tpl", templates, "cat local/out.txt; echo $GREETING; stat -c %a local/out.txt"),
    );
    agent.cli_ok(&["job", "run", &file]);
    let allocs = agent.wait_allocs("tpl", "the job to finish", |a| {
        a.iter().any(|a| a["ClientStatus"] == "complete" || a["ClientStatus"] == "failed")
    });
    let id = allocs[0]["ID"].as_str().unwrap();
    assert_eq!(allocs[0]["ClientStatus"], "complete");
    assert_eq!(agent.cli_ok(&["alloc", "logs", id]), "task=T alloc=0\nhello from tpl\n600\n");

    let bad = r#"
      template {
        data        = "ok\n{{ range service \"db\" }}{{ end }}"
        destination = "local/bad.txt"
      }"#;
    agent.cli_ok(&["job", "run", "-detach", &job_file(dir.path(), "bad.hcl", &job("bad", bad, "true"))]);
    let allocs = agent.wait_allocs("bad", "the task to fail", |a| a.iter().any(|a| a["ClientStatus"] == "failed"));
    let alloc = agent.get(&format!("/v1/allocation/{}", allocs[0]["ID"].as_str().unwrap()));
    let events = alloc["TaskStates"]["t"]["Events"].to_string();
    assert!(
        events.contains("local/bad.txt") && events.contains("line 2") && events.contains("not supported by rove"),
        "{events}"
    );
}
