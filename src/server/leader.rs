//! Leader duties: started when this server becomes Raft leader and stopped when it steps
//! down. The eval broker is filled from the state's pending evaluations, and node heartbeat
//! deadlines are enforced.

use super::command::Command;
use super::Server;
use crate::structs::{now_nanos, trigger, EvalStatus, Evaluation, JobType, NodeStatus};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// Follows leadership changes for the life of the server.
pub async fn follow_leadership(server: Arc<Server>, changes: smol::channel::Receiver<bool>) {
    let mut duties: Vec<smol::Task<()>> = Vec::new();
    while let Ok(is_leader) = changes.recv().await {
        if is_leader {
            log::info!(target: "leader", "cluster leadership acquired");
            establish(&server);
            duties = vec![
                smol::spawn(enforce_heartbeats(server.clone())),
                smol::spawn(super::periodic::dispatch(server.clone())),
            ];
        } else {
            log::info!(target: "leader", "cluster leadership lost");
            server.broker.set_enabled(false);
            server.heartbeats.clear();
            duties.clear();
        }
    }
    drop(duties);
}

fn establish(server: &Server) {
    server.broker.set_enabled(true);
    let snap = server.state.snapshot();
    for eval in snap.pending_evals() {
        server.broker.enqueue((*eval).clone());
    }
    // Every live node gets a full TTL to check in with the new leader.
    for node in snap.nodes_by_prefix("").filter(|n| !matches!(n.status, NodeStatus::Down | NodeStatus::Disconnected)) {
        server.heartbeats.reset(&node.id);
    }
}

async fn enforce_heartbeats(server: Arc<Server>) {
    let mut waits: Vec<smol::Task<()>> = Vec::new();
    // Nodes already disconnected when this server took over get what is left of their wait.
    for node in server.state.snapshot().nodes_by_prefix("").filter(|n| n.status == NodeStatus::Disconnected) {
        if let Some(window) = disconnect_window(&server, &node.id) {
            let away = Duration::from_secs(now_secs().saturating_sub(node.status_updated_at.max(0) as u64));
            waits.push(smol::spawn(lose_after(server.clone(), node.id.clone(), window.saturating_sub(away))));
        }
    }
    loop {
        smol::Timer::after(server.heartbeats.check_interval()).await;
        waits.retain(|w| !w.is_finished());
        for node_id in server.heartbeats.take_expired() {
            let window = disconnect_window(&server, &node_id);
            let (status, word) = match window {
                Some(_) => (NodeStatus::Disconnected, "disconnected"),
                None => (NodeStatus::Down, "down"),
            };
            log::warn!(target: "heartbeat", "node {node_id} missed its heartbeat TTL; marking it {word}");
            if mark(&server, &node_id, status, "node heartbeat missed").await {
                if let Some(window) = window {
                    waits.push(smol::spawn(lose_after(server.clone(), node_id.clone(), window)));
                }
            }
        }
    }
}

/// The longest time allocations on the node wait for it to come back (`disconnect`).
fn disconnect_window(server: &Server, node_id: &str) -> Option<Duration> {
    let snap = server.state.snapshot();
    snap.allocs_by_node(node_id)
        .iter()
        .filter(|a| !a.client_status.is_terminal())
        .filter_map(|a| a.job.as_ref()?.task_group(&a.task_group)?.disconnect_window())
        .max()
}

/// After `window`, a node still disconnected is down: its allocations are lost.
async fn lose_after(server: Arc<Server>, node_id: String, window: Duration) {
    smol::Timer::after(window).await;
    let still_away = server.state.snapshot().node(&node_id).is_some_and(|n| n.status == NodeStatus::Disconnected);
    if still_away {
        log::warn!(target: "heartbeat", "node {node_id} stayed disconnected past its allocations' wait; marking it down");
        mark(&server, &node_id, NodeStatus::Down, "node disconnected for longer than its allocations wait").await;
    }
}

/// Proposes the node's new status with evaluations for its jobs; whether it committed.
async fn mark(server: &Server, node_id: &str, status: NodeStatus, description: &str) -> bool {
    let command = Command::NodeStatusUpdate {
        node_id: node_id.to_string(),
        status,
        description: description.into(),
        evals: evals_for_node(server, node_id),
        time: now_nanos(),
    };
    match server.proposer.propose(command).await {
        Ok(_) => true,
        Err(e) => {
            log::warn!(target: "heartbeat", "could not mark node {node_id} {status}: {e}");
            false
        }
    }
}

fn now_secs() -> u64 {
    (now_nanos() / 1_000_000_000).max(0) as u64
}

/// One evaluation per job with live allocations on the node, and per system or sysbatch
/// job (the node may now be one they should run on).
pub fn evals_for_node(server: &Server, node_id: &str) -> Vec<Evaluation> {
    let snap = server.state.snapshot();
    let mut jobs: BTreeSet<(String, String)> = snap
        .allocs_by_node(node_id)
        .iter()
        .filter(|a| !a.is_terminal())
        .map(|a| (a.namespace.clone(), a.job_id.clone()))
        .collect();
    jobs.extend(
        snap.jobs("*", "")
            .filter(|j| matches!(j.job_type, JobType::System | JobType::Sysbatch) && !j.stop)
            .map(|j| (j.namespace.clone(), j.id.clone())),
    );
    jobs.into_iter()
        .filter_map(|(namespace, job_id)| snap.job(&namespace, &job_id))
        .map(|job| Evaluation { node_id: node_id.to_string(), ..Server::new_eval(&job, trigger::NODE_UPDATE) })
        .collect()
}

/// Blocked evaluations made pending again because capacity changed.
pub fn unblocked_evals(server: &Server) -> Vec<Evaluation> {
    server
        .state
        .snapshot()
        .blocked_evals()
        .map(|e| Evaluation { status: EvalStatus::Pending, modify_time: now_nanos(), ..(**e).clone() })
        .collect()
}
