//! Raft tests on real redb files: proposals, restart replay, snapshots and compaction.

use super::*;
use std::sync::{Arc, Mutex};

type Log = Arc<Mutex<Vec<(u64, Vec<u8>)>>>;

/// Records what it applied; snapshots are the JSON of that record.
struct Recorder {
    log: Log,
}

impl StateMachine for Recorder {
    fn apply(&mut self, index: u64, data: &[u8]) {
        self.log.lock().unwrap().push((index, data.to_vec()));
    }
    fn snapshot(&self) -> Vec<u8> {
        serde_json::to_vec(&*self.log.lock().unwrap()).unwrap()
    }
    fn restore(&mut self, _index: u64, data: &[u8]) -> Result<(), String> {
        *self.log.lock().unwrap() = serde_json::from_slice(data).map_err(|e| e.to_string())?;
        Ok(())
    }
}

fn config(dir: &std::path::Path, snapshot_threshold: u64) -> RaftConfig {
    RaftConfig {
        name: "test".into(),
        advertise: "127.0.0.1:1".into(),
        data_dir: dir.to_path_buf(),
        tick_interval: Duration::from_millis(20),
        election_tick: 10,
        heartbeat_tick: 2,
        snapshot_threshold,
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rove-raft-{name}-{}", crate::structs::generate_id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn start(dir: &std::path::Path, threshold: u64) -> (RaftHandle, Log) {
    let log: Log = Arc::default();
    let handle = RaftNode::start(config(dir, threshold), Box::new(Recorder { log: log.clone() }), true).unwrap();
    let became_leader = smol::block_on(handle.leadership().recv()).unwrap();
    assert!(became_leader);
    (handle, log)
}

fn propose_all(handle: &RaftHandle, range: std::ops::Range<u32>) -> Vec<u64> {
    range.map(|i| smol::block_on(handle.propose(format!("cmd-{i}").into_bytes())).unwrap()).collect()
}

fn payloads(log: &Log) -> Vec<String> {
    log.lock().unwrap().iter().map(|(_, d)| String::from_utf8(d.clone()).unwrap()).collect()
}

#[test]
fn proposals_apply_in_order_exactly_once() {
    let dir = temp_dir("order");
    let (handle, log) = start(&dir, 8192);
    assert!(handle.is_leader());
    assert_eq!(handle.status().leader_id, handle.id());
    let indexes = propose_all(&handle, 0..20);
    assert!(indexes.windows(2).all(|w| w[0] < w[1]), "indexes increase: {indexes:?}");
    assert_eq!(payloads(&log), (0..20).map(|i| format!("cmd-{i}")).collect::<Vec<_>>());
    let applied: Vec<u64> = log.lock().unwrap().iter().map(|(i, _)| *i).collect();
    assert_eq!(applied, indexes);
    handle.shutdown();
    assert!(matches!(smol::block_on(handle.propose(b"late".to_vec())), Err(RaftError::Shutdown)));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn restart_replays_the_log_without_duplicates_and_never_rebootstraps() {
    let dir = temp_dir("restart");
    let (handle, _) = start(&dir, 8192);
    let first = propose_all(&handle, 0..10);
    handle.shutdown();

    let (handle, log) = start(&dir, 8192);
    assert_eq!(payloads(&log), (0..10).map(|i| format!("cmd-{i}")).collect::<Vec<_>>());
    let more = propose_all(&handle, 10..12);
    assert!(more[0] > *first.last().unwrap());
    assert!(handle.status().term >= 2, "a restarted server elects itself in a new term");
    handle.shutdown();
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn snapshots_compact_the_log_and_restore_on_restart() {
    let dir = temp_dir("snapshot");
    let (handle, log) = start(&dir, 10);
    propose_all(&handle, 0..35);
    let before = log.lock().unwrap().clone();
    let status = handle.status();
    assert!(status.last_snapshot_index >= 30, "snapshot taken: {status:?}");
    handle.shutdown();

    let storage = super::storage::RedbStorage::open(&dir.join("raft.redb")).unwrap();
    assert!(storage.entry_count().unwrap() < 35, "log truncated after snapshot");
    drop(storage);

    let (handle, log) = start(&dir, 10);
    assert_eq!(*log.lock().unwrap(), before, "snapshot plus tail replay equals the state before");
    handle.shutdown();
    std::fs::remove_dir_all(dir).ok();
}
