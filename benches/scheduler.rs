//! The scheduler benchmark: a real server (Raft with its log in redb on disk, the eval
//! broker, scheduler workers and the plan applier) over simulated nodes, with no clients.
//! Jobs are submitted by a few concurrent submitters, each waiting for its evaluation to
//! finish before submitting the next, so the workers are always busy and the latency
//! measured is the evaluation's, not a queue's. One line per scenario:
//!
//! `scenario=<name> nodes=<n> placements=<n> seconds=<s> placements_per_sec=<n> p99_eval_ms=<n>`
//!
//! Run all with `cargo bench --bench scheduler`, or some: `cargo bench --bench scheduler --
//! service placement-10k`. `ROVE_BENCH_SCALE=0.1` shrinks job counts (not node counts) for a
//! quick run.

use rove::server::state::Table;
use rove::server::{Server, ServerConfig};
use rove::structs::{
    generate_id, Affinity, Constraint, DriverInfo, EvalStatus, Job, JobType, Node, Resources, Spread, SpreadTarget,
    Task, TaskGroup,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Submitters keeping the workers busy: twice the worker count.
const SUBMITTERS: usize = 4;
const WORKERS: usize = 2;

struct Scenario {
    name: &'static str,
    nodes: usize,
    jobs: usize,
    count: u32,
    job_type: JobType,
    /// With a constraint, an affinity and a spread.
    steered: bool,
}

const SCENARIOS: &[Scenario] = &[
    Scenario { name: "service", nodes: 10_000, jobs: 1_000, count: 1_000, job_type: JobType::Service, steered: false },
    Scenario {
        name: "service-steered",
        nodes: 10_000,
        jobs: 1_000,
        count: 1_000,
        job_type: JobType::Service,
        steered: true,
    },
    Scenario { name: "system", nodes: 10_000, jobs: 1, count: 1, job_type: JobType::System, steered: false },
    Scenario { name: "placement-1k", nodes: 1_000, jobs: 500, count: 1, job_type: JobType::Service, steered: false },
    Scenario { name: "placement-10k", nodes: 10_000, jobs: 500, count: 1, job_type: JobType::Service, steered: false },
    Scenario { name: "placement-50k", nodes: 50_000, jobs: 500, count: 1, job_type: JobType::Service, steered: false },
];

fn node(i: usize) -> Node {
    let mut node = Node {
        id: generate_id(),
        name: format!("sim-{i:05}"),
        datacenter: format!("dc{}", i % 4 + 1),
        node_class: if i.is_multiple_of(2) { "fast" } else { "slow" }.into(),
        node_pool: "default".into(),
        ..Node::default()
    };
    node.attributes.insert("kernel.name".into(), "linux".into());
    node.attributes.insert("cpu.arch".into(), "amd64".into());
    node.attributes
        .insert("unique.network.ip-address".into(), format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255));
    node.node_resources.cpu.cpu_shares = 32_000;
    node.node_resources.memory.memory_mb = 64 * 1024;
    node.node_resources.disk.disk_mb = 1024 * 1024;
    node.drivers.insert("exec".into(), DriverInfo { detected: true, healthy: true, ..DriverInfo::default() });
    node
}

fn job(scenario: &Scenario, i: usize) -> Job {
    let mut job = Job {
        id: format!("{}-{i:05}", scenario.name),
        job_type: scenario.job_type,
        datacenters: vec!["*".into()],
        task_groups: vec![TaskGroup {
            name: "app".into(),
            count: scenario.count,
            tasks: vec![Task {
                name: "server".into(),
                driver: "exec".into(),
                config: serde_json::json!({ "command": "/bin/sleep", "args": ["1000"] }).as_object().unwrap().clone(),
                resources: Resources { cpu: 100, memory_mb: 64, ..Resources::default() },
                ..Task::default()
            }],
            ..TaskGroup::default()
        }],
        ..Job::default()
    };
    if scenario.steered {
        job.constraints.push(Constraint {
            l_target: "${attr.kernel.name}".into(),
            r_target: "linux".into(),
            operand: "=".into(),
        });
        job.affinities.push(Affinity {
            l_target: "${node.class}".into(),
            r_target: "fast".into(),
            operand: "=".into(),
            weight: 50,
        });
        let target = |dc: &str, percent| SpreadTarget { value: dc.into(), percent };
        job.spreads.push(Spread {
            attribute: "${node.datacenter}".into(),
            weight: 100,
            spread_target: vec![target("dc1", 40), target("dc2", 30), target("dc3", 20), target("dc4", 10)],
        });
    }
    job
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    kb * 1024
}

fn start_server(dir: &std::path::Path) -> Arc<Server> {
    let config = ServerConfig {
        num_workers: WORKERS,
        heartbeat_ttl: Duration::from_secs(24 * 3600),
        heartbeat_grace: Duration::from_secs(3600),
        ..ServerConfig::single(dir.to_path_buf(), "bench")
    };
    let server = Server::start(config).expect("server starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.is_leader() {
        assert!(Instant::now() < deadline, "no leadership");
        std::thread::sleep(Duration::from_millis(10));
    }
    server
}

/// Registers the nodes, many proposals at a time so Raft batches them.
fn register_nodes(server: &Arc<Server>, count: usize) {
    let nodes: Vec<Node> = (0..count).map(node).collect();
    for chunk in nodes.chunks(512) {
        let tasks: Vec<_> = chunk
            .iter()
            .cloned()
            .map(|n| {
                let server = server.clone();
                smol::spawn(async move { server.register_node(n).await.expect("node registers") })
            })
            .collect();
        smol::block_on(async {
            for task in tasks {
                task.await;
            }
        });
    }
}

/// Registers one job and waits until its evaluation is complete; returns how long it took.
async fn submit_and_wait(server: &Server, job: Job) -> Duration {
    let started = Instant::now();
    let response = server.register_job(job, None).await.expect("job registers");
    let mut index = 0;
    loop {
        let snap = server.state.wait_for(Table::Evals, index, Duration::from_secs(5)).await;
        if snap.eval(&response.eval_id).is_some_and(|e| matches!(e.status, EvalStatus::Complete | EvalStatus::Failed)) {
            return started.elapsed();
        }
        index = snap.index(Table::Evals);
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn run(scenario: &'static Scenario, scale: f64) {
    let dir = std::env::temp_dir().join(format!("rove-bench-{}-{}", scenario.name, std::process::id()));
    let server = start_server(&dir);
    register_nodes(&server, scenario.nodes);
    let jobs = ((scenario.jobs as f64 * scale).ceil() as usize).max(1);
    let rss_before = rss_bytes();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let submitters: Vec<_> = (0..SUBMITTERS.min(jobs))
        .map(|_| {
            let (server, next) = (server.clone(), next.clone());
            smol::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= jobs {
                        return latencies;
                    }
                    latencies.push(submit_and_wait(&server, job(scenario, i)).await);
                }
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = smol::block_on(async {
        let mut all = Vec::new();
        for submitter in submitters {
            all.extend(submitter.await);
        }
        all
    });
    let seconds = started.elapsed().as_secs_f64();
    let snap = server.state.snapshot();
    let placements = snap.allocs_by_prefix("").filter(|a| !a.is_terminal()).count();
    let rss_after = rss_bytes();
    latencies.sort();
    println!(
        "scenario={} nodes={} placements={} seconds={:.2} placements_per_sec={:.0} p99_eval_ms={:.1}",
        scenario.name,
        scenario.nodes,
        placements,
        seconds,
        placements as f64 / seconds,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
    );
    println!(
        "  detail: evals={} p50_eval_ms={:.1} state_bytes_per_alloc={:.0} (rss {} MB -> {} MB)",
        latencies.len(),
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        rss_after.saturating_sub(rss_before) as f64 / placements.max(1) as f64,
        rss_before >> 20,
        rss_after >> 20,
    );
    server.shutdown();
    drop(snap);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs one scenario here, or each of several in a fresh process of its own so that one
/// scenario's memory does not blur the next one's figures.
fn main() {
    let wanted: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let scale: f64 = std::env::var("ROVE_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let chosen: Vec<&'static Scenario> =
        SCENARIOS.iter().filter(|s| wanted.is_empty() || wanted.iter().any(|w| w == s.name)).collect();
    if let [only] = chosen[..] {
        return run(only, scale);
    }
    let me = std::env::current_exe().expect("the benchmark knows its own path");
    for scenario in chosen {
        let status = std::process::Command::new(&me).arg(scenario.name).status().expect("scenario process starts");
        assert!(status.success(), "scenario {} failed: {status}", scenario.name);
    }
}
