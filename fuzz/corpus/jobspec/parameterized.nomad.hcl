# A job that runs once per dispatch, with its payload written into the task directory.
job "transcode" {
  type = "batch"

  parameterized {
    payload       = "required"
    meta_required = ["input"]
    meta_optional = ["preset"]
  }

  group "work" {
    ephemeral_disk {
      size = 2048
    }

    task "ffmpeg" {
      driver = "exec"

      dispatch_payload {
        file = "job.json"
      }

      config {
        command = "/usr/bin/ffmpeg"
        args    = ["-i", "${NOMAD_META_input}"]
      }

      resources {
        cores  = 2
        memory = 1024
      }
    }
  }
}
