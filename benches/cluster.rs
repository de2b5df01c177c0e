//! The server cluster benchmark: three real server agents on loopback (default timing,
//! `raft_multiplier = 1`), reporting one line per measure:
//!
//! - `failover`: from `kill -9` of the leader to the first write a surviving server
//!   acknowledges (median and p90 over several kills, the killed server restarted between);
//! - `register`: job registrations per second through the cluster, sent by concurrent
//!   writers to every server (followers forward to the leader);
//! - `idle-server`: each server's RSS after the cluster has been idle a few seconds.
//!
//! Run with `cargo bench --bench cluster`; `ROVE_BENCH_FAILOVERS` sets the number of kills.

#[path = "../tests/common/mod.rs"]
mod common;

use common::servers::ServerCluster;
use common::{wait_until, TempDir};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WRITERS: usize = 8;
const REGISTER_SECONDS: u64 = 10;

fn main() {
    let dir = TempDir::new("bench-cluster");
    let mut cluster = ServerCluster::start(dir.path(), 3);
    idle_rss(&cluster);
    register_rate(&cluster);
    failover(&mut cluster);
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn failover(cluster: &mut ServerCluster) {
    let runs: usize = std::env::var("ROVE_BENCH_FAILOVERS").ok().and_then(|r| r.parse().ok()).unwrap_or(10);
    let mut times = Vec::new();
    for run in 0..runs {
        let leader = cluster.wait_leader(&cluster.all(), Duration::from_secs(30));
        let survivors: Vec<usize> = cluster.all().into_iter().filter(|&i| i != leader).collect();
        cluster.servers[leader].kill();
        let killed = Instant::now();
        let mut n = 0;
        loop {
            let server = survivors[n % survivors.len()];
            if cluster.register(server, &format!("failover-{run}-{n}")).unwrap_or(false) {
                break;
            }
            n += 1;
            assert!(killed.elapsed() < Duration::from_secs(60), "no leader a minute after the kill");
            std::thread::sleep(Duration::from_millis(10));
        }
        times.push(killed.elapsed().as_secs_f64() * 1000.0);
        cluster.servers[leader].restart(&[]);
        wait_until(Duration::from_secs(30), "the restarted server to catch up", || {
            let ids = cluster.stale_job_ids(leader, &format!("failover-{run}-"))?;
            (!ids.is_empty()).then_some(())
        });
    }
    times.sort_by(f64::total_cmp);
    println!(
        "scenario=failover servers=3 runs={runs} median_ms={:.0} p90_ms={:.0} max_ms={:.0}",
        percentile(&times, 0.5),
        percentile(&times, 0.9),
        times.last().unwrap()
    );
}

fn register_rate(cluster: &ServerCluster) {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let (stop, done, failed) = (stop.clone(), done.clone(), failed.clone());
            scope.spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    match cluster.register((writer + n) % 3, &format!("rate-{writer}-{n}")) {
                        Ok(true) => done.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                    n += 1;
                }
            });
        }
        std::thread::sleep(Duration::from_secs(REGISTER_SECONDS));
        stop.store(true, Ordering::Relaxed);
    });
    let seconds = start.elapsed().as_secs_f64();
    let done = done.load(Ordering::Relaxed);
    println!(
        "scenario=register servers=3 writers={WRITERS} registrations={done} failed={} seconds={seconds:.1} registrations_per_sec={:.0}",
        failed.load(Ordering::Relaxed),
        done as f64 / seconds
    );
}

fn idle_rss(cluster: &ServerCluster) {
    std::thread::sleep(Duration::from_secs(5));
    let mut rss: Vec<f64> = cluster
        .servers
        .iter()
        .map(|s| common::rss_kb(s.child.as_ref().expect("server running").id()) as f64 / 1024.0)
        .collect();
    rss.sort_by(f64::total_cmp);
    println!(
        "scenario=idle-server servers=3 rss_mb_median={:.1} rss_mb_max={:.1}",
        percentile(&rss, 0.5),
        rss.last().unwrap()
    );
}
