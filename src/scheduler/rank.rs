//! Ranking and placement: picks, for each missing allocation, the feasible node with room
//! that scores best (bin-packing, with a penalty for stacking one job's allocations).

use super::feasible::{distinct_hosts, exhausted_dimension, group_demand, node_capacity, node_is_feasible};
use super::reconcile::Placement;
use super::{ports, Outcome, StateView};
use crate::structs::{
    generate_id, now_nanos, AllocMetric, AllocatedPort, AllocatedResources, Allocation, ClientStatus, DesiredStatus,
    Evaluation, Job, Node, Resources, SharedResources,
};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// Resources in use and allocations of the job being placed, per node, including what this
/// plan has already placed or stopped.
struct NodeUsage {
    used: HashMap<String, Resources>,
    collisions: HashMap<(String, String), u32>,
    ports: HashMap<String, HashSet<u16>>,
}

impl NodeUsage {
    fn used(&mut self, node: &Node, job: &Job, stopping: &BTreeSet<String>, state: &dyn StateView) -> Resources {
        if let Some(used) = self.used.get(&node.id) {
            return *used;
        }
        let mut used = Resources::default();
        let live: Vec<_> = state
            .allocs_by_node(&node.id)
            .into_iter()
            .filter(|a| !a.is_terminal() && !stopping.contains(&a.id))
            .collect();
        self.ports.insert(node.id.clone(), ports::held(live.iter().map(|a| a.as_ref())));
        for alloc in live {
            used.add(&alloc.allocated_resources.total());
            if alloc.job_id == job.id && alloc.namespace == job.namespace {
                *self.collisions.entry((node.id.clone(), alloc.task_group.clone())).or_default() += 1;
            }
        }
        self.used.insert(node.id.clone(), used);
        used
    }

    /// This job's allocations on the node: of one group, or of all its groups.
    fn job_allocs_on(&self, node_id: &str, group: Option<&str>) -> u32 {
        self.collisions
            .iter()
            .filter(|((n, g), _)| n == node_id && group.is_none_or(|want| want == g))
            .map(|(_, c)| c)
            .sum()
    }

    fn add(&mut self, node_id: &str, group: &str, demand: &Resources, ports: &[AllocatedPort]) {
        self.used.entry(node_id.to_string()).or_default().add(demand);
        self.ports.entry(node_id.to_string()).or_default().extend(ports.iter().map(|p| p.value));
        *self.collisions.entry((node_id.to_string(), group.to_string())).or_default() += 1;
    }
}

/// Nomad's best-fit score: 0 for an empty node, 1 for a full one.
fn bin_pack_score(capacity: &Resources, used: &Resources) -> f64 {
    let free = |used: u64, total: u64| {
        if total == 0 {
            0.0
        } else {
            1.0 - used as f64 / total as f64
        }
    };
    let total = 10f64.powf(free(used.cpu, capacity.cpu)) + 10f64.powf(free(used.memory_mb, capacity.memory_mb));
    ((20.0 - total) / 18.0).clamp(0.0, 1.0)
}

pub fn place_all(
    eval: &Evaluation,
    job: &Arc<Job>,
    placements: Vec<Placement>,
    state: &dyn StateView,
    outcome: &mut Outcome,
) {
    let mut nodes = state.nodes();
    nodes.sort_by(|a, b| a.id.cmp(&b.id));
    let stopping: BTreeSet<String> = outcome.plan.node_update.values().flatten().map(|a| a.id.clone()).collect();
    let mut usage = NodeUsage { used: HashMap::new(), collisions: HashMap::new(), ports: HashMap::new() };
    for placement in placements {
        let Some(group) = job.task_group(&placement.group) else {
            continue;
        };
        if let Some(failed) = outcome.failed_tg_allocs.get_mut(&group.name) {
            // Once a group fails to place, its further placements fail the same way.
            failed.coalesced_failures += 1;
            *outcome.queued.entry(group.name.clone()).or_default() += 1;
            continue;
        }
        let started = std::time::Instant::now();
        let demand = group_demand(group);
        let distinct = distinct_hosts(job, group);
        let mut metric = AllocMetric::default();
        let mut best: Option<(f64, &Arc<Node>, Vec<AllocatedPort>)> = None;
        for node in &nodes {
            if node.status == crate::structs::NodeStatus::Ready {
                *metric.nodes_available.entry(node.datacenter.clone()).or_default() += 1;
            }
            if !node_is_feasible(job, group, node, &mut metric) {
                continue;
            }
            let capacity = node_capacity(node);
            let used = usage.used(node, job, &stopping, state);
            if let Some(job_wide) = distinct {
                let scope = if job_wide { None } else { Some(group.name.as_str()) };
                if usage.job_allocs_on(&node.id, scope) > 0 {
                    metric.nodes_filtered += 1;
                    *metric.constraint_filtered.entry("distinct_hosts".into()).or_default() += 1;
                    continue;
                }
            }
            let host_ip = node.attributes.get("unique.network.ip-address").map_or("127.0.0.1", String::as_str);
            let seed = fastrand::u64(..);
            let assigned = exhausted_dimension(&capacity, &used, &demand)
                .map(str::to_string)
                .map_or_else(|| ports::assign(group, &usage.ports[&node.id], host_ip, seed), Err);
            let assigned = match assigned {
                Ok(ports) => ports,
                Err(dimension) => {
                    metric.nodes_exhausted += 1;
                    *metric.dimension_exhausted.entry(dimension).or_default() += 1;
                    *metric.class_exhausted.entry(node.node_class.clone()).or_default() += 1;
                    continue;
                }
            };
            let after = Resources {
                cpu: used.cpu + demand.cpu,
                memory_mb: used.memory_mb + demand.memory_mb,
                ..Resources::default()
            };
            let mut score = bin_pack_score(&capacity, &after);
            let collisions = usage.collisions.get(&(node.id.clone(), group.name.clone())).copied().unwrap_or(0);
            if collisions > 0 {
                let penalty = -f64::from(collisions + 1) / f64::from(group.count.max(1));
                score = (score + penalty) / 2.0;
            }
            if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
                best = Some((score, node, assigned));
            }
        }
        metric.allocation_time = started.elapsed().as_nanos() as i64;
        match best {
            Some((_, node, ports)) => {
                usage.add(&node.id, &group.name, &demand, &ports);
                let mut alloc = new_allocation(eval, job, &group.name, placement.index, node);
                alloc.allocated_resources.shared.ports = ports;
                outcome.plan.node_allocation.entry(node.id.clone()).or_default().push(alloc);
            }
            None => {
                outcome.failed_tg_allocs.insert(group.name.clone(), metric);
                *outcome.queued.entry(group.name.clone()).or_default() += 1;
            }
        }
    }
}

fn new_allocation(eval: &Evaluation, job: &Arc<Job>, group_name: &str, index: u32, node: &Node) -> Allocation {
    let group = job.task_group(group_name).expect("placement names an existing group");
    let now = now_nanos();
    Allocation {
        id: generate_id(),
        namespace: job.namespace.clone(),
        eval_id: eval.id.clone(),
        name: format!("{}.{}[{}]", job.id, group.name, index),
        node_id: node.id.clone(),
        node_name: node.name.clone(),
        job_id: job.id.clone(),
        job: Some((**job).clone()),
        task_group: group.name.clone(),
        allocated_resources: AllocatedResources {
            tasks: group.tasks.iter().map(|t| (t.name.clone(), t.resources)).collect(),
            shared: SharedResources { disk_mb: group.ephemeral_disk.map_or(0, |d| d.size_mb), ports: Vec::new() },
        },
        desired_status: DesiredStatus::Run,
        client_status: ClientStatus::Pending,
        create_time: now,
        modify_time: now,
        ..Allocation::default()
    }
}
