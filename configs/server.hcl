# One server of a three-server cluster: keeps the cluster state (Raft) and schedules
# work. Give each of the three its own advertise address; the three meet through
# retry_join, bootstrap the cluster once all three have met, and from then on survive
# the loss of any one of them.
data_dir   = "/var/lib/rove"
bind_addr  = "0.0.0.0"
region     = "global"
datacenter = "dc1"

ports {
  http = 4646
  rpc  = 4647
  serf = 4648
}

advertise {
  # Where the other servers and the clients reach this one.
  rpc = "10.0.0.11:4647"
}

server {
  enabled          = true
  bootstrap_expect = 3

  server_join {
    # Addresses without a port use 4647.
    retry_join     = ["10.0.0.11", "10.0.0.12", "10.0.0.13"]
    retry_interval = "15s"
  }

  # A node that misses its heartbeat TTL plus this grace is marked down.
  heartbeat_grace = "10s"
}
