//! Variables, locals, functions and runtime interpolation in job files.

use super::*;

const VARS: &str = r#"
variable "count" {
  type    = number
  default = 2
}

variable "image" {
  type = string
  validation {
    condition     = length(var.image) > 3
    error_message = "image must be longer than 3 characters"
  }
}

variable "dcs" {
  type    = list(string)
  default = ["dc1"]
}

locals {
  greeting = "${local.prefix}-${upper(var.image)}"
  prefix   = "hi"
  labels   = merge({ team = "core" }, { env = "prod" })
}

job "web" {
  datacenters = var.dcs
  meta = {
    labels = jsonencode(local.labels)
  }
  group "g" {
    count = var.count
    task "t" {
      driver = "exec"
      config {
        command = "/bin/echo"
        args    = [local.greeting, "${NOMAD_ALLOC_INDEX}", "${attr.cpu.arch}", format("%s:%d", var.image, var.count)]
      }
      env {
        JOINED = join(",", split(" ", "a b c"))
        FROM_YAML = yamldecode("port: 8080\nname: web")["name"]
        NODE   = "${node.unique.name} in ${lookup({ a = "x" }, "a", "y")}"
      }
    }
  }
}
"#;

fn sources(vars: &[(&str, &str)]) -> VarSources {
    VarSources { vars: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..VarSources::default() }
}

#[test]
fn variables_locals_and_functions_resolve_and_runtime_values_stay() {
    let job = parse_hcl_with(VARS, "web.hcl", &sources(&[("image", "redis"), ("count", "3")])).unwrap();
    let group = &job.task_groups[0];
    assert_eq!(group.count, 3, "-var converts to the declared number type");
    assert_eq!(job.datacenters, ["dc1"]);
    assert_eq!(job.meta["labels"], r#"{"env":"prod","team":"core"}"#);
    let task = &group.tasks[0];
    let args: Vec<&str> = task.config["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(args, ["hi-REDIS", "${NOMAD_ALLOC_INDEX}", "${attr.cpu.arch}", "redis:3"]);
    assert_eq!(task.env["JOINED"], "a,b,c");
    assert_eq!(task.env["FROM_YAML"], "web");
    assert_eq!(task.env["NODE"], "${node.unique.name} in x");
}

#[test]
fn precedence_is_var_then_var_file_then_environment_then_default() {
    let dir = std::env::temp_dir().join(format!("rove-varfile-{}", crate::structs::generate_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("prod.vars.hcl");
    std::fs::write(&file, "image = \"from-file\"\ncount = 5\n").unwrap();
    let mut s = VarSources { var_files: vec![file], ..VarSources::default() };
    s.env.insert("image".into(), "from-env".into());
    s.env.insert("count".into(), "7".into());
    let job = parse_hcl_with(VARS, "web.hcl", &s).unwrap();
    assert_eq!(job.task_groups[0].count, 5, "the var file beats the environment");
    s.vars.push(("count".into(), "9".into()));
    let job = parse_hcl_with(VARS, "web.hcl", &s).unwrap();
    assert_eq!(job.task_groups[0].count, 9, "-var beats the var file");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn missing_invalid_and_undeclared_variables_are_explained() {
    let err = parse_hcl(VARS, "web.hcl").unwrap_err().to_string();
    assert!(
        err.contains("variable \"image\" has no value: pass -var image=..., -var-file, or NOMAD_VAR_image"),
        "{err}"
    );
    let err = parse_hcl_with(VARS, "web.hcl", &sources(&[("image", "ab")])).unwrap_err().to_string();
    assert!(err.contains("variable \"image\": image must be longer than 3 characters"), "{err}");
    let err =
        parse_hcl_with(VARS, "web.hcl", &sources(&[("image", "redis"), ("count", "many")])).unwrap_err().to_string();
    assert!(err.contains("variable \"count\": \"many\" is not a number"), "{err}");
    let err =
        parse_hcl_with(VARS, "web.hcl", &sources(&[("image", "redis"), ("colour", "red")])).unwrap_err().to_string();
    assert!(err.contains("-var colour: no variable \"colour\" is declared in the job file"), "{err}");
}

#[test]
fn file_reads_next_to_the_job_file() {
    let dir = std::env::temp_dir().join(format!("rove-file-fn-{}", crate::structs::generate_id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("motd.txt"), "welcome\n").unwrap();
    let job_path = dir.join("j.hcl");
    let src = r#"job "j" {
  group "g" {
    task "t" {
      driver = "exec"
      config { command = "/bin/true" }
      env { MOTD = trimspace(file("motd.txt")) }
    }
  }
}"#;
    std::fs::write(&job_path, src).unwrap();
    let job = parse_file(&job_path, &VarSources::default()).unwrap();
    assert_eq!(job.task_groups[0].tasks[0].env["MOTD"], "welcome");
    std::fs::remove_dir_all(dir).unwrap();
}
