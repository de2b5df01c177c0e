//! Job file parsing tests: realistic files, defaults, JSON round trips and every class of
//! mistake with the message a user sees.

use super::*;
use crate::structs::{JobType, RestartMode};
use std::time::Duration;

const WEB: &str = r#"
job "web" {
  datacenters = ["dc1", "eu-*"]

  meta {
    owner = "ops"
  }

  group "frontend" {
    count = 3

    restart {
      attempts = 5
      delay    = "10s"
    }

    task "nginx" {
      driver = "exec"
      user   = "www-data"

      config {
        command = "/usr/sbin/nginx"
        args    = ["-g", "daemon off;", "-c", "${NOMAD_TASK_DIR}/nginx.conf"]
      }

      env {
        PORT    = 8080
        VERBOSE = true
        ARCH    = "${attr.cpu.arch}"
      }

      resources {
        cpu        = 250
        memory     = 128
        memory_max = 256
      }

      kill_timeout = "30s"
    }
  }
}
"#;

#[test]
fn realistic_service_job_parses_with_defaults_and_inheritance() {
    let job = parse_hcl(WEB, "web.hcl").unwrap();
    assert_eq!(job.id, "web");
    assert_eq!(job.name, "web");
    assert_eq!(job.job_type, JobType::Service);
    assert_eq!(job.priority, 50);
    assert_eq!(job.namespace, "default");
    assert_eq!(job.region, "global");
    assert_eq!(job.datacenters, ["dc1", "eu-*"]);
    assert_eq!(job.meta["owner"], "ops");
    let group = &job.task_groups[0];
    assert_eq!(group.count, 3);
    let restart = group.restart_policy.as_ref().unwrap();
    assert_eq!(restart.attempts, 5);
    assert_eq!(restart.delay, Duration::from_secs(10));
    assert_eq!(restart.interval, Duration::from_secs(30 * 60), "unset fields come from the service defaults");
    assert_eq!(restart.mode, RestartMode::Fail);
    let task = &group.tasks[0];
    assert_eq!(task.restart_policy.as_ref(), Some(restart), "tasks inherit the group's restart");
    assert_eq!(task.user, "www-data");
    assert_eq!(task.config["command"], "/usr/sbin/nginx");
    assert_eq!(task.config["args"][3], "${NOMAD_TASK_DIR}/nginx.conf", "runtime interpolation kept");
    assert_eq!(task.env["PORT"], "8080");
    assert_eq!(task.env["VERBOSE"], "true");
    assert_eq!(task.env["ARCH"], "${attr.cpu.arch}");
    assert_eq!(task.resources.cpu, 250);
    assert_eq!(task.resources.memory_max_mb, 256);
    assert_eq!(task.kill_timeout, Duration::from_secs(30));
    assert_eq!(task.log_config.unwrap().max_files, 10);
    assert_eq!(group.ephemeral_disk.unwrap().size_mb, 300);
}

#[test]
fn json_round_trips_through_the_api_form() {
    let job = parse_hcl(WEB, "web.hcl").unwrap();
    let json = serde_json::to_string(&serde_json::json!({ "Job": job })).unwrap();
    let back = parse_json(&json, "web.json").unwrap();
    assert_eq!(back, job);
    let bare = serde_json::to_string(&job).unwrap();
    assert_eq!(parse_json(&bare, "bare.json").unwrap(), job);
}

#[test]
fn syntax_errors_give_file_line_column_and_the_line() {
    let src = "job \"x\" {\n  group \"g\" {\n    count = = 2\n  }\n}\n";
    let err = parse_hcl(src, "bad.hcl").unwrap_err().to_string();
    assert!(err.starts_with("bad.hcl:3:"), "{err}");
    assert!(err.contains("count = = 2"), "{err}");
}

#[test]
fn unknown_names_get_suggestions_and_misplaced_blocks_their_home() {
    let src = r#"job "x" {
  group "g" {
    resources { cpu = 100 }
    task "t" {
      drvier = "exec"
      resources {
        memroy = 64
      }
    }
  }
}"#;
    let err = parse_hcl(src, "x.hcl").unwrap_err().to_string();
    assert!(
        err.contains(r#"job "x" -> group "g": "resources" block is not allowed here; it belongs inside a task block"#),
        "{err}"
    );
    assert!(err.contains(r#"task "t": unknown attribute "drvier" (did you mean "driver"?)"#), "{err}");
    assert!(err.contains(r#"resources: unknown attribute "memroy" (did you mean "memory"?)"#), "{err}");
}

#[test]
fn wrong_types_and_semantic_errors_are_all_listed() {
    let src = r#"job "x" {
  priority = 500
  group "g" {
    count = "three"
    task "t" {
      driver = "exec"
      resources { memory = 5 }
    }
  }
}"#;
    let err = parse_hcl(src, "x.hcl").unwrap_err().to_string();
    assert!(err.contains(r#"group "g": count: expected a non-negative whole number, got string "three""#), "{err}");

    let src = src.replace("count = \"three\"", "count = 2");
    let err = parse_hcl(&src, "x.hcl").unwrap_err().to_string();
    assert!(err.contains("x.hcl: 2 errors in job"), "{err}");
    assert!(err.contains("priority must be between 1 and 100, got 500"), "{err}");
    assert!(err.contains(r#"group "g" -> task "t" -> resources: memory must be at least 10 MB"#), "{err}");
}

#[test]
fn bad_durations_and_json_types_name_the_field() {
    let src = r#"job "x" {
  group "g" {
    task "t" {
      driver = "exec"
      kill_timeout = "5 minutes"
    }
  }
}"#;
    let err = parse_hcl(src, "x.hcl").unwrap_err().to_string();
    assert!(err.contains("kill_timeout: invalid duration"), "{err}");
    let err = parse_json(r#"{"Job": {"ID": "x", "TaskGroups": [{"Count": "3"}]}}"#, "x.json").unwrap_err().to_string();
    assert!(err.contains("Job.TaskGroups[0].Count"), "{err}");
    let err = parse_json("{\n  \"Job\": {,\n}", "y.json").unwrap_err().to_string();
    assert!(err.starts_with("y.json:2:"), "{err}");
}
