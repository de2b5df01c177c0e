# A server: keeps the cluster state (Raft) and schedules work. One voter for now.
data_dir   = "/var/lib/rove"
bind_addr  = "0.0.0.0"
region     = "global"
datacenter = "dc1"

ports {
  http = 4646
  rpc  = 4647
  serf = 4648
}

server {
  enabled          = true
  bootstrap_expect = 1

  # A node that misses its heartbeat TTL plus this grace is marked down.
  heartbeat_grace = "10s"
}
