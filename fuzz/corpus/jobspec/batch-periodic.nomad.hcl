# A nightly batch job that must not overlap itself, rescheduled once on failure.
job "nightly-report" {
  type = "batch"

  periodic {
    crons            = ["0 2 * * *"]
    time_zone        = "Europe/Berlin"
    prohibit_overlap = true
  }

  group "report" {
    reschedule {
      attempts = 2
      interval = "6h"
    }

    task "build" {
      driver = "raw_exec"
      user   = "reports"

      config {
        command = "/opt/reports/build.sh"
      }

      logs {
        max_files     = 3
        max_file_size = 5
      }
    }
  }
}
