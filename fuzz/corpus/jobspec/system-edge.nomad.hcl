# A system job for every Raspberry Pi in the fleet, tolerant of flaky uplinks.
job "node-exporter" {
  type = "system"

  constraint {
    attribute = "${attr.cpu.arch}"
    operator  = "set_contains_any"
    value     = "arm64,arm"
  }

  group "exporter" {
    disconnect {
      lost_after = "6h"
      replace    = false
    }

    task "exporter" {
      driver = "exec"

      config {
        command = "/usr/local/bin/node_exporter"
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
