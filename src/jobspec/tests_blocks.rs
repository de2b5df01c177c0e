//! Every block of the job specification, decoded and inherited as Nomad does.

use super::*;
use crate::structs::JobType;
use std::time::Duration;

const FULL: &str = r#"
job "shop" {
  type        = "service"
  datacenters = ["eu-*"]
  all_at_once = false

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }
  constraint {
    distinct_hosts = true
  }
  affinity {
    attribute = "${node.datacenter}"
    value     = "eu-west"
    weight    = 70
  }
  spread {
    attribute = "${node.datacenter}"
    target "eu-west" { percent = 60 }
    target "eu-north" { percent = 40 }
  }
  update {
    max_parallel = 2
    canary       = 1
  }
  reschedule {
    delay = "10s"
  }
  migrate {
    max_parallel = 3
  }

  group "web" {
    count = 2

    update {
      auto_revert = true
    }

    network {
      mode = "bridge"
      port "http" {
        to = 8080
      }
      port "admin" {
        static = 9000
      }
      dns {
        servers = ["1.1.1.1"]
      }
    }

    service {
      name     = "web"
      port     = "http"
      provider = "nomad"
      tags     = ["v1"]
      check {
        type     = "http"
        path     = "/health"
        interval = "10s"
        timeout  = "2s"
        check_restart {
          limit = 3
          grace = "30s"
        }
      }
    }

    volume "data" {
      type      = "host"
      source    = "shop-data"
      read_only = false
    }

    ephemeral_disk {
      size   = 500
      sticky = true
    }

    disconnect {
      lost_after = "1h"
      replace    = false
      reconcile  = "keep_original"
    }

    max_client_disconnect = "2h"
    shutdown_delay        = "5s"

    scaling {
      min = 1
      max = 10
      policy {
        cooldown = "1m"
      }
    }

    task "api" {
      driver = "exec"
      leader = true
      config {
        command = "/bin/api"
      }
      resources {
        cores  = 2
        memory = 256
      }
      artifact {
        source      = "https://example.com/api.tar.gz"
        destination = "local/api"
        options {
          checksum = "sha256:abc"
        }
      }
      template {
        data        = "port={{ env \"NOMAD_PORT_http\" }}"
        destination = "local/app.conf"
        change_mode = "signal"
        change_signal = "SIGHUP"
      }
      volume_mount {
        volume      = "data"
        destination = "/srv/data"
      }
      kill_signal    = "SIGINT"
      shutdown_delay = "3s"
    }

    task "log-shipper" {
      driver = "exec"
      lifecycle {
        hook    = "poststart"
        sidecar = true
      }
      config {
        command = "/bin/ship"
      }
    }
  }
}
"#;

#[test]
fn every_block_decodes_with_inheritance() {
    let job = parse_hcl(FULL, "shop.hcl").unwrap();
    assert_eq!(job.constraints.len(), 2);
    assert_eq!(job.constraints[0].l_target, "${attr.kernel.name}");
    assert_eq!(job.constraints[0].operand, "=");
    assert_eq!(job.constraints[1].operand, "distinct_hosts");
    assert_eq!(job.affinities[0].weight, 70);
    assert_eq!(job.spreads[0].spread_target[1].value, "eu-north");
    assert_eq!(job.spreads[0].spread_target[1].percent, 40);
    assert_eq!(job.spreads[0].weight, 50);

    let group = &job.task_groups[0];
    let update = group.update.as_ref().unwrap();
    assert_eq!(update.max_parallel, 2, "from the job's update");
    assert_eq!(update.canary, 1, "from the job's update");
    assert!(update.auto_revert, "from the group's own update");
    assert_eq!(update.min_healthy_time, Duration::from_secs(10), "Nomad's default");
    assert_eq!(group.migrate.as_ref().unwrap().max_parallel, 3);
    let reschedule = group.reschedule_policy.as_ref().unwrap();
    assert_eq!(reschedule.delay, Duration::from_secs(10));
    assert_eq!(reschedule.delay_function, "exponential");
    assert!(reschedule.unlimited);

    let net = &group.networks[0];
    assert_eq!(net.mode, "bridge");
    assert_eq!(net.dynamic_ports[0].label, "http");
    assert_eq!(net.dynamic_ports[0].to, 8080);
    assert_eq!(net.reserved_ports[0].value, 9000);
    assert_eq!(net.dns.as_ref().unwrap().servers, ["1.1.1.1"]);
    let service = &group.services[0];
    assert_eq!(service.port_label, "http");
    assert_eq!(service.checks[0].path, "/health");
    assert_eq!(service.checks[0].interval, Duration::from_secs(10));
    assert_eq!(service.checks[0].check_restart.as_ref().unwrap().limit, 3);
    assert_eq!(group.volumes["data"].source, "shop-data");
    assert_eq!(group.ephemeral_disk.unwrap().size_mb, 500);
    assert!(group.ephemeral_disk.unwrap().sticky);
    let disconnect = group.disconnect.as_ref().unwrap();
    assert_eq!(disconnect.lost_after, Duration::from_secs(3600));
    assert_eq!(disconnect.replace, Some(false));
    assert_eq!(group.max_client_disconnect, Some(Duration::from_secs(7200)));
    assert_eq!(group.scaling.as_ref().unwrap().max, Some(10));
    assert_eq!(group.scaling.as_ref().unwrap().policy["cooldown"], "1m");

    let api = &group.tasks[0];
    assert!(api.leader);
    assert_eq!(api.resources.cores, 2);
    assert_eq!(api.resources.cpu, 0, "cores replace cpu shares");
    assert_eq!(api.artifacts[0].getter_options["checksum"], "sha256:abc");
    assert_eq!(api.templates[0].change_signal, "SIGHUP");
    assert_eq!(api.templates[0].embedded_tmpl, "port={{ env \"NOMAD_PORT_http\" }}");
    assert_eq!(api.volume_mounts[0].destination, "/srv/data");
    assert_eq!(api.kill_signal, "SIGINT");
    assert_eq!(api.shutdown_delay, Duration::from_secs(3));
    let shipper = &group.tasks[1];
    assert_eq!(shipper.lifecycle.as_ref().unwrap().hook, "poststart");
    assert!(shipper.lifecycle.as_ref().unwrap().sidecar);
}

#[test]
fn batch_jobs_get_batch_reschedule_and_no_update_or_migrate() {
    let src = r#"job "b" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "exec"
      config { command = "true" }
    }
  }
}"#;
    let job = parse_hcl(src, "b.hcl").unwrap();
    assert_eq!(job.job_type, JobType::Batch);
    let group = &job.task_groups[0];
    assert!(group.update.is_none() && group.migrate.is_none() && job.update.is_none());
    let reschedule = group.reschedule_policy.as_ref().unwrap();
    assert_eq!((reschedule.attempts, reschedule.delay_function.as_str()), (1, "constant"));
    let restart = group.tasks[0].restart_policy.clone().unwrap();
    assert_eq!(restart.attempts, 3, "batch restart defaults differ from service ones");
    assert_eq!(restart.interval, Duration::from_secs(24 * 3600));
    assert_eq!(job.datacenters, ["*"]);
    assert_eq!(group.tasks[0].resources.memory_mb, 300);
}

#[test]
fn json_jobs_get_the_same_defaults_and_survive_a_round_trip() {
    let job = parse_hcl(FULL, "shop.hcl").unwrap();
    let json = serde_json::to_string(&serde_json::json!({ "Job": job })).unwrap();
    assert_eq!(parse_json(&json, "shop.json").unwrap(), job);

    let minimal = r#"{"Job": {"ID": "m", "TaskGroups": [{"Name": "g", "Count": 1, "Tasks": [{"Name": "t", "Driver": "exec"}]}]}}"#;
    let from_json = parse_json(minimal, "m.json").unwrap();
    let from_hcl =
        parse_hcl("job \"m\" {\n group \"g\" {\n task \"t\" {\n driver = \"exec\"\n }\n }\n}", "m.hcl").unwrap();
    assert_eq!(from_json, from_hcl, "JSON and HCL jobs canonicalize alike");
}

#[test]
fn unsupported_features_are_refused_by_name() {
    let src = r#"job "x" {
  vault {
    policies = ["p"]
  }
  group "g" {
    volume "v" {
      type   = "csi"
      source = "ebs"
    }
    service {
      name = "s"
      connect {
        sidecar_service {}
      }
    }
    task "t" {
      driver = "exec"
      identity {
        env = true
      }
      resources {
        device "nvidia/gpu" {}
      }
    }
  }
}"#;
    let err = parse_hcl(src, "x.hcl").unwrap_err().to_string();
    assert!(err.contains("job \"x\": \"vault\" is not supported by rove"), "{err}");
    assert!(err.contains("\"csi\" volumes are not supported by rove"), "{err}");
    assert!(err.contains("service: \"connect\" is not supported by rove"), "{err}");
    assert!(err.contains("task \"t\": \"identity\" is not supported by rove"), "{err}");
    assert!(err.contains("resources: \"device\" is not supported by rove"), "{err}");
}

#[test]
fn block_values_are_checked() {
    let src = r#"job "x" {
  constraint {
    attribute = "${attr.kernel.name}"
    operator  = "regex"
    value     = "linux"
  }
  group "g" {
    reschedule {
      delay_function = "linear"
    }
    network {
      port "http" {}
      port "http" {}
    }
    service {
      name = "s"
      check {
        type = "http"
        interval = "10s"
        timeout = "1s"
      }
    }
    task "t" {
      driver = "exec"
      lifecycle {
        hook = "prestop"
      }
      template {
        destination = "local/x"
      }
    }
  }
}"#;
    let err = parse_hcl(src, "x.hcl").unwrap_err().to_string();
    assert!(err.contains("operator: \"regex\" is not a constraint operator (did you mean \"regexp\"?)"), "{err}");
    assert!(err.contains("delay_function: \"linear\" must be constant, exponential or fibonacci"), "{err}");
    assert!(err.contains("port \"http\": port label is declared more than once"), "{err}");
    assert!(err.contains("an http check needs path"), "{err}");
    assert!(err.contains("hook: \"prestop\" must be prestart, poststart or poststop"), "{err}");
    assert!(err.contains("set exactly one of source and data"), "{err}");
}
