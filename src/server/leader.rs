//! Leader duties: started when this server becomes Raft leader and stopped when it steps
//! down. The eval broker is filled from the state's pending evaluations, and node heartbeat
//! deadlines are enforced.

use super::command::Command;
use super::Server;
use crate::structs::{now_nanos, trigger, EvalStatus, Evaluation, JobType, NodeStatus};
use std::collections::BTreeSet;
use std::sync::Arc;

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
    for node in snap.nodes_by_prefix("").filter(|n| n.status != NodeStatus::Down) {
        server.heartbeats.reset(&node.id);
    }
}

async fn enforce_heartbeats(server: Arc<Server>) {
    loop {
        smol::Timer::after(server.heartbeats.check_interval()).await;
        for node_id in server.heartbeats.take_expired() {
            log::warn!(target: "heartbeat", "node {node_id} missed its heartbeat TTL; marking it down");
            let evals = evals_for_node(&server, &node_id);
            let command = Command::NodeStatusUpdate {
                node_id: node_id.clone(),
                status: NodeStatus::Down,
                description: "node heartbeat missed".into(),
                evals,
                time: now_nanos(),
            };
            if let Err(e) = server.proposer.propose(command).await {
                log::warn!(target: "heartbeat", "could not mark node {node_id} down: {e}");
            }
        }
    }
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
