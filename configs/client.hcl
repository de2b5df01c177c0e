# A client: runs the work the servers place on this machine.
data_dir   = "/var/lib/rove"
bind_addr  = "0.0.0.0"
datacenter = "dc1"

client {
  enabled    = true
  servers    = ["127.0.0.1:4647"]
  node_class = "edge"

  meta {
    rack = "r1"
  }
}
