//! `rove alloc exec` through a real dev agent: a command run in a raw_exec task gets the
//! task's environment and directory; one run in an exec task is inside its root and runs as
//! its user; the command's output and exit code come back; a group of several tasks needs
//! `-task`.

mod common;

use common::{Agent, TempDir};

fn job(name: &str, driver: &str, tasks: &[&str]) -> String {
    let tasks: Vec<String> = tasks
        .iter()
        .map(|t| {
            format!(
                "    task \"{t}\" {{\n      driver = \"{driver}\"\n      config {{\n        command = \"/bin/sleep\"\n        args = [\"300\"]\n      }}\n    }}\n"
            )
        })
        .collect();
    format!("job \"{name}\" {{\n  group \"g\" {{\n{}  }}\n}}\n", tasks.concat())
}

#[test]
fn commands_run_inside_running_tasks() {
    let dir = TempDir::new("alloc-exec");
    let agent = Agent::dev(dir.path());

    let raw = agent.run_until_running(dir.path(), "raw", &job("raw", "raw_exec", &["web"]));
    let out = agent.cli(&["alloc", "exec", &raw, "/bin/sh", "-c", "echo $NOMAD_TASK_NAME; pwd; echo oops >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("web\n") && stdout.trim_end().ends_with(&format!("{raw}/web")), "{stdout}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");

    let isolated = agent.run_until_running(dir.path(), "iso", &job("iso", "exec", &["box"]));
    let out = agent.cli_ok(&["alloc", "exec", &isolated[..8], "/bin/sh", "-c", "id -un; ls /; echo $NOMAD_ALLOC_ID"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "nobody", "{out}");
    assert!(
        lines.contains(&"local") && lines.contains(&"alloc") && lines.contains(&"secrets"),
        "the task's root: {out}"
    );
    assert_eq!(lines.last(), Some(&isolated.as_str()));

    let pair = agent.run_until_running(dir.path(), "pair", &job("pair", "raw_exec", &["a", "b"]));
    let out = agent.cli(&["alloc", "exec", &pair, "/bin/true"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("several tasks (a, b)"), "{out:?}");
    assert_eq!(agent.cli_ok(&["alloc", "exec", "-task", "b", &pair, "/bin/echo", "hi"]), "hi\n");
    for name in ["raw", "iso", "pair"] {
        agent.cli_ok(&["job", "stop", "-detach", name]);
    }
}

#[test]
fn commands_run_inside_containers() {
    let Some(image) = common::docker_test_image() else { return };
    let dir = TempDir::new("alloc-exec-docker");
    let agent = Agent::dev(dir.path());
    let hcl = format!(
        "job \"boxed\" {{\n  group \"g\" {{\n    task \"t\" {{\n      driver = \"docker\"\n      config {{\n        image = \"{image}\"\n        command = \"/bin/sleep\"\n        args = [\"300\"]\n      }}\n      resources {{\n        memory = 32\n      }}\n    }}\n  }}\n}}\n"
    );
    let alloc = agent.run_until_running(dir.path(), "boxed", &hcl);
    let out = agent.cli(&[
        "alloc",
        "exec",
        &alloc,
        "/bin/sh",
        "-c",
        "echo $NOMAD_TASK_NAME; ls /alloc; echo err >&2; exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "t\ndata\nlogs\ntmp\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    agent.cli_ok(&["job", "stop", "-detach", "boxed"]);
}
