//! Templates through a real dev agent: rendered into the task directory before the task
//! starts, from the task's environment; an `env = true` template feeds the task's
//! environment; a template rove cannot render fails the task, saying why and where.

mod common;

use common::{batch_shell_job, job_file, Agent, TempDir, NO_RETRIES};

fn job(name: &str, templates: &str, script: &str) -> String {
    batch_shell_job(name, NO_RETRIES, &format!("{templates}\n"), script)
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

#[test]
fn changed_templates_restart_or_signal_their_task() {
    let dir = TempDir::new("templates-change");
    let input = dir.path().join("input.txt");
    std::fs::write(&input, "one\n").unwrap();
    let agent = Agent::dev(dir.path());
    let task = |name: &str, mode: &str, script: &str| {
        format!(
            r#"
    task "{name}" {{
      driver = "raw_exec"
      artifact {{
        source = "{input}"
      }}
      template {{
        data          = "{name}={{{{ file \"local/input.txt\" | trimSpace }}}}\n"
        destination   = "local/out.txt"
        {mode}
      }}
      config {{
        command = "/bin/sh"
        args    = ["-c", "{script}"]
      }}
    }}"#,
            input = input.display()
        )
    };
    let restarting =
        task("restarting", "change_mode = \"restart\"", "cat local/out.txt >> $NOMAD_ALLOC_DIR/seen; sleep 1000");
    let signalled = task(
        "signalled",
        "change_mode = \"signal\"\n        change_signal = \"SIGHUP\"",
        "trap 'cat local/out.txt >> $NOMAD_ALLOC_DIR/hup' HUP; while true; do sleep 0.2; done",
    );
    let hcl = format!("job \"watched\" {{\n  group \"g\" {{{restarting}\n{signalled}\n  }}\n}}\n");
    let alloc = agent.run_until_running(dir.path(), "watched", &hcl);
    let root = agent.data_dir.join(format!("client/alloc/{alloc}"));
    common::wait_until(std::time::Duration::from_secs(20), "both tasks running", || {
        let states = agent.get(&format!("/v1/allocation/{alloc}"))["TaskStates"].clone();
        (states["restarting"]["State"] == "running" && states["signalled"]["State"] == "running").then_some(())
    });
    for task in ["restarting", "signalled"] {
        std::fs::write(root.join(task).join("local/input.txt"), "two\n").unwrap();
    }
    let seen =
        common::wait_until(std::time::Duration::from_secs(20), "the restarted task to see the new value", || {
            let seen = std::fs::read_to_string(root.join("alloc/seen")).unwrap_or_default();
            (seen == "restarting=one\nrestarting=two\n").then_some(seen)
        });
    assert_eq!(seen, "restarting=one\nrestarting=two\n");
    let hup = common::wait_until(std::time::Duration::from_secs(20), "the signalled task to see the new value", || {
        std::fs::read_to_string(root.join("alloc/hup")).ok().filter(|h| !h.is_empty())
    });
    assert_eq!(hup, "signalled=two\n");
    let states = agent.get(&format!("/v1/allocation/{alloc}"))["TaskStates"].clone();
    assert_eq!(states["restarting"]["Restarts"], 1, "{states:#}");
    assert_eq!(states["signalled"]["Restarts"], 0, "signalled, not restarted: {states:#}");
    assert!(states["restarting"]["Events"].to_string().contains("Template with change_mode restart re-rendered"));
    agent.cli_ok(&["job", "stop", "watched"]);
}
