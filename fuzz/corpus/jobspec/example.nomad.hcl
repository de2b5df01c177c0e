# An example service job. It runs a small shell loop with the exec driver, so it needs
# neither Docker nor network access. Run it with:
#
#   rove job run example.nomad.hcl
#
job "example" {
  type        = "service"
  datacenters = ["*"]

  group "greeter" {
    count = 1

    # Restart a failing task twice within 30 minutes, 15 seconds apart, then give up.
    restart {
      attempts = 2
      interval = "30m"
      delay    = "15s"
      mode     = "fail"
    }

    task "greet" {
      driver = "exec"

      config {
        command = "/bin/sh"
        args    = ["-c", "while true; do echo \"$GREETING from $NOMAD_ALLOC_NAME\"; sleep 5; done"]
      }

      env {
        GREETING = "hello"
      }

      resources {
        cpu    = 100 # MHz
        memory = 64  # MB
      }
    }
  }
}
