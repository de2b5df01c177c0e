//! High availability: three real server agents on loopback (and a client) lose their
//! leader to `kill -9`, restart all together, and have their leader cut off by a
//! fault-injecting proxy; no acknowledged write is lost, none appears that was not sent,
//! and reads never go backwards.

mod common;

use common::servers::{job_ids, ServerCluster};
use common::{http_with_headers, wait_until, Agent, TempDir};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Every write the load sent, and those acknowledged.
#[derive(Default)]
struct History {
    sent: BTreeSet<String>,
    acknowledged: BTreeSet<String>,
    /// Problems the reader saw (reads that went backwards or missed acknowledged writes).
    read_violations: Vec<String>,
    reads: usize,
}

/// Registers `load-N` jobs through the servers in turn until stopped, recording each.
fn write_load(ports: Vec<u16>, stop: Arc<AtomicBool>, history: Arc<Mutex<History>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let port = ports[n % ports.len()];
            let id = format!("load-{n:05}");
            history.lock().unwrap().sent.insert(id.clone());
            let job = serde_json::json!({ "Job": {
                "ID": id, "Name": id, "Type": "batch", "Datacenters": ["dc1"], "ParameterizedJob": {},
                "TaskGroups": [{ "Name": "g", "Tasks": [{
                    "Name": "t", "Driver": "raw_exec", "Config": { "command": "/bin/true" } }] }],
            }});
            let acked = http_with_headers(port, "PUT", "/v1/jobs", Some(&serde_json::to_vec(&job).unwrap()))
                .is_ok_and(|(status, _, _)| status == 200);
            if acked {
                history.lock().unwrap().acknowledged.insert(id);
            } else {
                std::thread::sleep(Duration::from_millis(50));
            }
            n += 1;
        }
    })
}

/// Reads the load's jobs with consistent reads through the servers in turn until stopped:
/// each successful read must hold every write acknowledged before it began and every job
/// an earlier read saw.
fn read_load(ports: Vec<u16>, stop: Arc<AtomicBool>, history: Arc<Mutex<History>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut seen = BTreeSet::new();
        let mut last_read = String::new();
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let acked_before = history.lock().unwrap().acknowledged.clone();
            let port = ports[n % ports.len()];
            n += 1;
            let Ok((status, headers, body)) = http_with_headers(port, "GET", "/v1/jobs?prefix=load-", None) else {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            let body = serde_json::from_slice(&body).unwrap_or_default();
            let Some(ids) = job_ids(status, &body) else {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            let ids: BTreeSet<String> = ids.into_iter().collect();
            let mut h = history.lock().unwrap();
            h.reads += 1;
            if let Some(missing) = acked_before.difference(&ids).next() {
                h.read_violations.push(format!("read through port {port} misses acknowledged {missing}"));
            }
            let index = headers.iter().find(|(k, _)| k == "x-nomad-index").map_or("", |(_, v)| v.as_str());
            let this_read = format!("port {port} index {index} with {} jobs", ids.len());
            if let Some(gone) = seen.difference(&ids).next() {
                h.read_violations
                    .push(format!("read went backwards: {gone} disappeared: {last_read}, then {this_read}"));
            }
            seen = ids;
            last_read = this_read;
        }
    })
}

/// Every write acknowledged so far is on server `i`, and nothing that was not sent.
fn check_history(cluster: &ServerCluster, i: usize, history: &Mutex<History>) {
    let acknowledged = history.lock().unwrap().acknowledged.clone();
    let ids: BTreeSet<String> =
        wait_until(Duration::from_secs(30), "a server holding every acknowledged write", || {
            let ids: BTreeSet<String> = cluster.stale_job_ids(i, "load-")?.into_iter().collect();
            acknowledged.is_subset(&ids).then_some(ids)
        });
    let sent = history.lock().unwrap().sent.clone();
    let unsent: Vec<&String> = ids.difference(&sent).collect();
    assert!(unsent.is_empty(), "server {i} holds writes never sent: {unsent:?}");
}

fn ports(cluster: &ServerCluster, of: &[usize]) -> Vec<u16> {
    of.iter().map(|&i| cluster.servers[i].http_port).collect()
}

fn others(cluster: &ServerCluster, but: usize) -> Vec<usize> {
    cluster.all().into_iter().filter(|&i| i != but).collect()
}

#[test]
fn losing_the_leader_loses_no_acknowledged_write_and_a_full_restart_keeps_everything() {
    let dir = TempDir::new("ha-failover");
    let mut cluster = ServerCluster::start(dir.path(), 3);
    let leader = cluster.wait_leader(&cluster.all(), Duration::from_secs(10));

    // A client that talks to the leader first, running a long task.
    let servers: Vec<String> = std::iter::once(leader)
        .chain(others(&cluster, leader))
        .map(|i| format!("\"{}\"", cluster.advertised[i]))
        .collect();
    let client_config = format!(
        "client {{\n  enabled = true\n  servers = [{}]\n}}\nplugin \"raw_exec\" {{\n  config {{\n    enabled = true\n  }}\n}}\n",
        servers.join(", ")
    );
    let client = Agent::start(dir.path(), "client", &client_config, &[]);
    client.wait_ready();
    let sleeper = "job \"sleeper\" {\n  datacenters = [\"dc1\"]\n  group \"g\" {\n    task \"t\" {\n      driver = \"raw_exec\"\n      config {\n        command = \"/bin/sleep\"\n        args = [\"300\"]\n      }\n    }\n  }\n}\n";
    let sleeper_alloc = client.run_until_running(dir.path(), "sleeper", sleeper);

    let history = Arc::new(Mutex::new(History::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let survivors = others(&cluster, leader);
    let writer = write_load(ports(&cluster, &cluster.all()), stop.clone(), history.clone());
    let reader = read_load(ports(&cluster, &survivors), stop.clone(), history.clone());
    wait_until(Duration::from_secs(30), "writes acknowledged before the kill", || {
        (history.lock().unwrap().acknowledged.len() >= 20).then_some(())
    });

    // A job whose evaluation is still in flight when the leader dies.
    let in_flight = sleeper.replace("sleeper", "in-flight");
    client.cli_ok(&["job", "run", "-detach", &common::job_file(dir.path(), "in-flight.hcl", &in_flight)]);
    cluster.servers[leader].kill();
    let killed_at = Instant::now();
    let acked_at_kill = history.lock().unwrap().acknowledged.len();
    let new_leader = cluster.wait_leader(&survivors, Duration::from_secs(15));
    assert_ne!(new_leader, leader);
    wait_until(Duration::from_secs(30), "writes acknowledged by the new leader", || {
        (history.lock().unwrap().acknowledged.len() >= acked_at_kill + 20).then_some(())
    });
    eprintln!("writes flowed again {:?} after the leader was killed", killed_at.elapsed());

    // The client failed over: its task kept running, and new work reaches it.
    let pinger = sleeper.replace("sleeper", "after-failover");
    client.run_until_running(dir.path(), "after-failover", &pinger);
    client.wait_allocs("in-flight", "the in-flight job placed by the new leader", |allocs| {
        allocs.iter().any(|a| a["ClientStatus"] == "running")
    });
    let sleeper_allocs = client.allocs("sleeper");
    assert_eq!(sleeper_allocs.len(), 1, "the running task was not replaced: {sleeper_allocs:?}");
    assert_eq!(sleeper_allocs[0]["ID"], sleeper_alloc.as_str());
    assert_eq!(sleeper_allocs[0]["ClientStatus"], "running");

    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    reader.join().unwrap();
    {
        let h = history.lock().unwrap();
        assert!(h.read_violations.is_empty(), "{:?}", h.read_violations);
        assert!(h.reads > 0, "the reader got answers");
    }
    for &i in &survivors {
        check_history(&cluster, i, &history);
    }

    // The killed server comes back and catches up.
    cluster.servers[leader].restart(&[]);
    check_history(&cluster, leader, &history);

    // Everything crashes; everything comes back with the same state and one leader.
    for server in &mut cluster.servers {
        server.kill();
    }
    for server in &mut cluster.servers {
        server.restart(&[]);
    }
    cluster.wait_leader(&cluster.all(), Duration::from_secs(30));
    for i in cluster.all() {
        check_history(&cluster, i, &history);
        let bootstraps = cluster.servers[i].logs().matches("bootstrapped a new cluster").count();
        assert_eq!(bootstraps, 1, "server {i} bootstrapped {bootstraps} times");
    }
    let h = history.lock().unwrap();
    eprintln!(
        "{} writes sent, {} acknowledged, {} consistent reads checked",
        h.sent.len(),
        h.acknowledged.len(),
        h.reads
    );
}

#[test]
fn a_partitioned_leader_stops_accepting_writes_and_the_majority_carries_on() {
    let dir = TempDir::new("ha-partition");
    let cluster = ServerCluster::start(dir.path(), 3);
    let old = cluster.wait_leader(&cluster.all(), Duration::from_secs(10));
    let majority = others(&cluster, old);
    assert!(cluster.register(old, "before-partition").unwrap());

    cluster.faults.isolate(&cluster.names[old]);
    // Cut off, the old leader cannot confirm it still leads: no consistent read from it.
    let (status, _) = cluster.servers[old].try_get("/v1/jobs").unwrap();
    assert_eq!(status, 500, "a leader without a quorum refuses consistent reads");
    let new = cluster.wait_leader(&majority, Duration::from_secs(15));
    assert_ne!(new, old);
    wait_until(Duration::from_secs(10), "the cut-off leader to step down", || {
        (!cluster.raft_state(old)?.1).then_some(())
    });
    assert!(!cluster.register(old, "written-to-minority").unwrap(), "the minority refused the write");
    let (status, _) = cluster.servers[old].try_get("/v1/jobs").unwrap();
    assert_eq!(status, 500, "the minority has no leader to read from");
    assert!(cluster.register(majority[0], "written-to-majority").unwrap());
    assert!(cluster.register(majority[1], "written-to-majority-2").unwrap());

    // One leader per term, at most, while cut.
    let states: Vec<(u64, bool)> = cluster.all().into_iter().filter_map(|i| cluster.raft_state(i)).collect();
    let leader_terms: Vec<u64> = states.iter().filter(|(_, leads)| *leads).map(|(term, _)| *term).collect();
    let distinct: BTreeSet<u64> = leader_terms.iter().copied().collect();
    assert_eq!(leader_terms.len(), distinct.len(), "two leaders in one term: {states:?}");

    cluster.faults.heal();
    let expected: BTreeSet<String> =
        ["before-partition", "written-to-majority", "written-to-majority-2"].map(String::from).into();
    for i in cluster.all() {
        wait_until(Duration::from_secs(30), "every server to converge on the majority's writes", || {
            let ids: BTreeSet<String> = cluster.stale_job_ids(i, "")?.into_iter().collect();
            (ids == expected).then_some(())
        });
    }
    let leader = cluster.wait_leader(&cluster.all(), Duration::from_secs(15));
    assert!(majority.contains(&leader) || leader == old);
    assert!(cluster.register(old, "after-heal").unwrap(), "the healed server forwards writes again");
}

#[test]
fn servers_join_leave_and_a_replaced_server_leaves_no_stale_voter() {
    let dir = TempDir::new("ha-membership");
    let mut cluster = ServerCluster::start(dir.path(), 3);
    let leader = cluster.wait_leader(&cluster.all(), Duration::from_secs(10));
    assert!(cluster.register(leader, "before-join").unwrap());
    // Asked of the first leader, which stays up throughout.
    let peers = |cluster: &ServerCluster| -> Vec<(String, String)> {
        let config = cluster.servers[leader].get("/v1/operator/raft/configuration?stale");
        let servers = config["Servers"].as_array().cloned().unwrap_or_default();
        let mut peers: Vec<(String, String)> = servers
            .iter()
            .map(|s| (s["Node"].as_str().unwrap().to_string(), s["ID"].as_str().unwrap().to_string()))
            .collect();
        peers.sort();
        peers
    };

    // A fourth server joins the running cluster and catches up.
    let fourth = cluster.add_server(dir.path());
    wait_until(Duration::from_secs(30), "the fourth server to be a voter", || {
        (peers(&cluster).len() == 4).then_some(())
    });
    wait_until(Duration::from_secs(30), "the fourth server to catch up", || {
        cluster.stale_job_ids(fourth, "")?.contains(&"before-join".to_string()).then_some(())
    });
    let listed = cluster.servers[fourth].cli_ok(&["operator", "raft", "list-peers"]);
    assert!(listed.contains("server4.global") && listed.contains("leader"), "{listed}");

    // It is removed again.
    let address = cluster.advertised[fourth].clone();
    cluster.servers[leader].cli_ok(&["operator", "raft", "remove-peer", "-peer-address", &address]);
    wait_until(Duration::from_secs(30), "three voters again", || (peers(&cluster).len() == 3).then_some(()));
    cluster.servers[fourth].stop();

    // A server that loses its data comes back under a new ID; the old one is dropped.
    let victim = cluster.all().into_iter().find(|&i| i != leader && i != fourth).unwrap();
    let old_peers = peers(&cluster);
    cluster.servers[victim].kill();
    std::fs::remove_dir_all(&cluster.servers[victim].data_dir).unwrap();
    cluster.servers[victim].restart(&[]);
    wait_until(Duration::from_secs(30), "the replaced server to be a voter under a new ID", || {
        let now = peers(&cluster);
        (now.len() == 3 && now != old_peers).then_some(())
    });
    wait_until(Duration::from_secs(30), "the replaced server to catch up", || {
        cluster.stale_job_ids(victim, "")?.contains(&"before-join".to_string()).then_some(())
    });
    wait_until(Duration::from_secs(30), "server members to list three alive servers", || {
        let members = cluster.servers[leader].cli_ok(&["server", "members"]);
        (members.matches("alive").count() == 3 && !members.contains("failed")).then_some(())
    });
}

#[test]
fn a_lagging_server_catches_up_by_snapshot_and_the_log_stays_bounded() {
    let dir = TempDir::new("ha-snapshot");
    let mut cluster = ServerCluster::start_with(dir.path(), 3, "raft_snapshot_threshold = 50");
    let leader = cluster.wait_leader(&cluster.all(), Duration::from_secs(10));
    let lagging = others(&cluster, leader)[0];
    cluster.servers[lagging].kill();
    for i in 0..150 {
        assert!(cluster.register(leader, &format!("job-{i:03}")).unwrap());
    }
    cluster.servers[lagging].restart(&[]);
    wait_until(Duration::from_secs(30), "the lagging server to catch up", || {
        (cluster.stale_job_ids(lagging, "job-")?.len() == 150).then_some(())
    });
    assert!(
        cluster.servers[lagging].logs().contains("installed a snapshot from the leader"),
        "caught up by snapshot:\n{}",
        cluster.servers[lagging].logs()
    );

    // A steady write load that does not grow the state does not grow the data dir.
    let raft_file = cluster.servers[leader].data_dir.join("server/raft.redb");
    let steady = |n: usize| {
        for _ in 0..n {
            assert!(cluster.register(leader, "steady").unwrap());
        }
        std::fs::metadata(&raft_file).unwrap().len()
    };
    let after_first = steady(300);
    let after_more = steady(900);
    eprintln!("raft.redb: {after_first} bytes after 300 steady writes, {after_more} after 900 more");
    assert!(after_more <= after_first * 3 / 2, "raft.redb grew from {after_first} to {after_more} bytes");
}

/// Kills, restarts and partitions at random under a steady write and read load, checking
/// the history after every round. `ROVE_FAULT_ROUNDS` sets the rounds (default 6).
#[test]
fn random_faults_under_load_keep_every_acknowledged_write() {
    let rounds: usize = std::env::var("ROVE_FAULT_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(6);
    let seed = std::env::var("ROVE_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| fastrand::u64(..));
    eprintln!("fault seed {seed} (ROVE_FAULT_SEED), {rounds} rounds");
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = TempDir::new("ha-random");
    let mut cluster = ServerCluster::start(dir.path(), 3);
    let history = Arc::new(Mutex::new(History::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = write_load(ports(&cluster, &cluster.all()), stop.clone(), history.clone());
    let reader = read_load(ports(&cluster, &cluster.all()), stop.clone(), history.clone());

    for round in 0..rounds {
        let victim = rng.usize(0..3);
        let leader = cluster.agreed_leader(&cluster.all());
        let target = if rng.bool() { leader.unwrap_or(victim) } else { victim };
        let fault = rng.usize(0..3);
        let what = ["kill -9 and restart", "partition and heal", "graceful restart"][fault];
        eprintln!("round {round}: {what} server {target} (leader {leader:?})");
        match fault {
            0 => {
                cluster.servers[target].kill();
                std::thread::sleep(Duration::from_millis(rng.u64(500..3000)));
                cluster.servers[target].restart(&[]);
            }
            1 => {
                cluster.faults.isolate(&cluster.names[target]);
                std::thread::sleep(Duration::from_millis(rng.u64(1000..4000)));
                cluster.faults.heal();
            }
            _ => {
                cluster.servers[target].stop();
                cluster.servers[target].restart(&[]);
            }
        }
        cluster.wait_leader(&cluster.all(), Duration::from_secs(30));
        let before = history.lock().unwrap().acknowledged.len();
        wait_until(Duration::from_secs(30), "writes acknowledged after the fault", || {
            (history.lock().unwrap().acknowledged.len() >= before + 5).then_some(())
        });
        for i in cluster.all() {
            check_history(&cluster, i, &history);
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    reader.join().unwrap();
    let history = history.lock().unwrap();
    assert!(history.read_violations.is_empty(), "{:?}", history.read_violations);
    eprintln!(
        "{rounds} fault rounds: {} writes sent, {} acknowledged, {} consistent reads, all checked",
        history.sent.len(),
        history.acknowledged.len(),
        history.reads
    );
}
