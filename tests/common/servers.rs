//! A cluster of server agents on loopback for the high-availability tests: each server
//! advertises a port of the fault-injecting proxy, so the test can cut it off, and they
//! find each other through `server_join { retry_join }` with `bootstrap_expect`.

use super::faults::Faults;
use super::{free_port, http, wait_until, Agent};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

pub struct ServerCluster {
    pub servers: Vec<Agent>,
    pub names: Vec<String>,
    /// The address each server advertises (its proxy), in server order.
    pub advertised: Vec<String>,
    pub faults: Faults,
}

impl ServerCluster {
    /// Starts `n` servers expecting each other, and waits until they agree on a leader.
    pub fn start(dir: &Path, n: usize) -> ServerCluster {
        ServerCluster::start_with(dir, n, "")
    }

    /// Like [`ServerCluster::start`], with `server_extra` added to each `server` block.
    pub fn start_with(dir: &Path, n: usize, server_extra: &str) -> ServerCluster {
        let faults = Faults::default();
        let names: Vec<String> = (1..=n).map(|i| format!("server{i}")).collect();
        let ports: Vec<[u16; 3]> = (0..n).map(|_| [free_port(), free_port(), free_port()]).collect();
        let advertised: Vec<String> =
            names.iter().zip(&ports).map(|(name, p)| format!("127.0.0.1:{}", faults.proxy(name, p[1]))).collect();
        let servers = names
            .iter()
            .zip(&ports)
            .zip(&advertised)
            .map(|((name, ports), advertise)| {
                Agent::start_on(dir, name, *ports, &server_config(advertise, n, &advertised, server_extra), &[])
            })
            .collect();
        let cluster = ServerCluster { servers, names, advertised, faults };
        cluster.wait_leader(&cluster.all(), Duration::from_secs(30));
        cluster
    }

    /// Starts one more server that joins the running cluster; returns its index.
    pub fn add_server(&mut self, dir: &Path) -> usize {
        let name = format!("server{}", self.servers.len() + 1);
        let ports = [free_port(), free_port(), free_port()];
        let advertise = format!("127.0.0.1:{}", self.faults.proxy(&name, ports[1]));
        let config = server_config(&advertise, self.servers.len(), &self.advertised, "");
        self.servers.push(Agent::start_on(dir, &name, ports, &config, &[]));
        self.names.push(name);
        self.advertised.push(advertise);
        self.servers.len() - 1
    }

    pub fn all(&self) -> Vec<usize> {
        (0..self.servers.len()).collect()
    }

    /// The server that `of` all name as leader, if they agree on one.
    pub fn agreed_leader(&self, of: &[usize]) -> Option<usize> {
        let mut leader = None;
        for &i in of {
            let (status, body) = self.servers[i].try_get("/v1/status/leader").ok()?;
            let addr = body.as_str().filter(|a| status == 200 && !a.is_empty())?;
            let index = self.advertised.iter().position(|a| a == addr)?;
            if leader.is_some_and(|l| l != index) {
                return None;
            }
            leader = Some(index);
        }
        leader.filter(|l| of.contains(l))
    }

    /// Waits until the servers `of` agree on a leader among them; returns it.
    pub fn wait_leader(&self, of: &[usize], timeout: Duration) -> usize {
        let what = format!("servers {of:?} to agree on a leader");
        wait_until(timeout, &what, || self.agreed_leader(of))
    }

    /// `(term, is leader)` as a server reports it, if it answers.
    pub fn raft_state(&self, i: usize) -> Option<(u64, bool)> {
        let (status, body) = self.servers[i].try_get("/v1/agent/self").ok()?;
        if status != 200 {
            return None;
        }
        let raft = &body["stats"]["raft"];
        Some((raft["term"].as_str()?.parse().ok()?, raft["state"] == "Leader"))
    }

    /// Registers a parameterized batch job (which needs no evaluation) through server `i`;
    /// `Ok(true)` when acknowledged, `Ok(false)` when refused, `Err` when the server could
    /// not be reached at all.
    pub fn register(&self, i: usize, job_id: &str) -> std::io::Result<bool> {
        let job = serde_json::json!({ "Job": {
            "ID": job_id, "Name": job_id, "Type": "batch", "Datacenters": ["dc1"],
            "ParameterizedJob": {},
            "TaskGroups": [{ "Name": "g", "Tasks": [{
                "Name": "t", "Driver": "raw_exec", "Config": { "command": "/bin/true" } }] }],
        }});
        let body = serde_json::to_vec(&job).unwrap();
        let (status, _) = http(self.servers[i].http_port, "PUT", "/v1/jobs", Some(&body))?;
        Ok(status == 200)
    }

    /// The IDs of the jobs with `prefix` that server `i` holds, read from its own state.
    pub fn stale_job_ids(&self, i: usize, prefix: &str) -> Option<Vec<String>> {
        let (status, body) = self.servers[i].try_get(&format!("/v1/jobs?prefix={prefix}&stale")).ok()?;
        job_ids(status, &body)
    }
}

/// A server's config: advertising `advertise`, expecting `expect` servers, joining `join`.
fn server_config(advertise: &str, expect: usize, join: &[String], server_extra: &str) -> String {
    let join: Vec<String> = join.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "advertise {{\n  rpc = \"{advertise}\"\n}}\nserver {{\n  enabled = true\n  bootstrap_expect = {expect}\n  {server_extra}\n  server_join {{\n    retry_join = [{}]\n    retry_interval = \"500ms\"\n  }}\n}}\n",
        join.join(", ")
    )
}

/// The IDs in a job list answer.
pub fn job_ids(status: u16, body: &Value) -> Option<Vec<String>> {
    let jobs = body.as_array().filter(|_| status == 200)?;
    Some(jobs.iter().filter_map(|j| j["ID"].as_str().map(str::to_string)).collect())
}
