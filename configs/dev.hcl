# A single agent that is both server and client, for trying rove on one machine.
# Equivalent to `rove agent -dev`, but keeps its data:  rove agent -config configs/dev.hcl
data_dir  = "/tmp/rove-dev"
bind_addr = "127.0.0.1"
log_level = "INFO"

server {
  enabled          = true
  bootstrap_expect = 1
}

client {
  enabled = true
}

# raw_exec runs tasks without isolation; only enable it where that is acceptable.
plugin "raw_exec" {
  config {
    enabled = true
  }
}

# The docker driver is always offered; it is healthy when a Docker Engine answers here.
# plugin "docker" {
#   config {
#     endpoint         = "unix:///var/run/docker.sock"
#     allow_privileged = false
#     volumes {
#       enabled = false # true lets tasks bind host paths outside their allocation
#     }
#   }
# }
