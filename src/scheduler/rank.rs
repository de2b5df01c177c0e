//! Ranking and placement: for each missing allocation, walks a bounded number of feasible
//! nodes with room (see [`super::select`]) and picks the best scored one (see
//! [`super::score`]), keeping track of what the plan has placed so far.

use super::distinct::DistinctProperties;
use super::feasible::{
    core_mhz, demand_on, distinct_hosts, exhausted_dimension, group_demand, node_capacity, node_is_feasible,
};
use super::reconcile::Placement;
use super::score::{self, SpreadCounts};
use super::select::{candidate_limit, NodeCursor};
use super::usage::{NodeUsage, Room};
use super::{ports, Outcome, StateView};
use crate::structs::{
    generate_id, now_nanos, Affinity, AllocMetric, AllocatedResources, Allocation, ClientStatus, DesiredStatus,
    Evaluation, Job, Node, NodeStatus, Resources, SchedulerConfiguration, SharedResources, Spread, TaskGroup,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// What ranking needs to know of one task group, worked out once per evaluation.
struct GroupRules<'a> {
    group: &'a TaskGroup,
    demand: Resources,
    /// `Some(true)`: one allocation of the job per node; `Some(false)`: of the group.
    distinct: Option<bool>,
    affinities: Vec<&'a Affinity>,
    spreads: Vec<&'a Spread>,
    spread_counts: SpreadCounts,
    limit: usize,
}

impl<'a> GroupRules<'a> {
    fn new(job: &'a Job, group: &'a TaskGroup, node_count: usize, usage: &NodeUsage, state: &dyn StateView) -> Self {
        let affinities: Vec<&Affinity> = job
            .affinities
            .iter()
            .chain(&group.affinities)
            .chain(group.tasks.iter().flat_map(|t| &t.affinities))
            .collect();
        let spreads: Vec<&Spread> = job.spreads.iter().chain(&group.spreads).collect();
        let mut spread_counts = SpreadCounts::default();
        if !spreads.is_empty() {
            let running = usage.running().iter().filter(|a| a.task_group == group.name);
            for node in running.filter_map(|a| state.node(&a.node_id)) {
                spread_counts.add(&spreads, &node);
            }
        }
        let steered = !affinities.is_empty() || !spreads.is_empty();
        GroupRules {
            group,
            demand: group_demand(group),
            distinct: distinct_hosts(job, group),
            limit: candidate_limit(job.job_type, node_count, steered),
            affinities,
            spreads,
            spread_counts,
        }
    }

    /// The mean of the scores that apply to placing one more allocation on `node`.
    fn score(
        &self,
        config: &SchedulerConfiguration,
        capacity: &Resources,
        after: &Resources,
        collisions: u32,
        node: &Node,
        avoid: bool,
    ) -> f64 {
        let scores = [
            Some(score::fit(config.scheduler_algorithm, capacity, after)),
            score::anti_affinity(collisions, self.group.count),
            score::affinity(&self.affinities, node),
            self.spread_counts.score(&self.spreads, node, self.group.count),
            avoid.then_some(-1.0),
        ];
        let applied: Vec<f64> = scores.into_iter().flatten().collect();
        applied.iter().sum::<f64>() / applied.len() as f64
    }
}

/// A seed for the node shuffle that is stable for one evaluation.
fn seed_for(eval: &Evaluation) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    eval.id.hash(&mut hasher);
    hasher.finish()
}

/// Ready nodes per datacenter, as placement metrics report them.
fn nodes_available(nodes: &[Arc<Node>]) -> BTreeMap<String, u64> {
    let mut available: BTreeMap<&str, u64> = BTreeMap::new();
    for node in nodes.iter().filter(|n| n.status == NodeStatus::Ready) {
        *available.entry(node.datacenter.as_str()).or_default() += 1;
    }
    available.into_iter().map(|(dc, n)| (dc.to_string(), n)).collect()
}

/// Places the missing allocations of `job`, whose allocations are `existing`.
pub fn place_all(
    eval: &Evaluation,
    job: &Arc<Job>,
    existing: &[Arc<Allocation>],
    placements: Vec<Placement>,
    state: &dyn StateView,
    outcome: &mut Outcome,
) {
    let config = &state.scheduler_config();
    let mut cursor = NodeCursor::new(state.nodes(), seed_for(eval));
    let available = nodes_available(cursor.nodes());
    let mut usage = NodeUsage::new(job, existing, outcome.plan.node_update.values().flatten());
    let mut distinct = DistinctProperties::new(job, &usage, state);
    let mut rules: HashMap<String, GroupRules> = HashMap::new();
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
        let rules = rules
            .entry(group.name.clone())
            .or_insert_with(|| GroupRules::new(job, group, cursor.nodes().len(), &usage, state));
        let started = std::time::Instant::now();
        let mut metric = AllocMetric { nodes_available: available.clone(), ..AllocMetric::default() };
        let chosen = pick_node(job, rules, &placement, &mut cursor, &mut usage, &distinct, state, config, &mut metric);
        metric.allocation_time = started.elapsed().as_nanos() as i64;
        match chosen {
            Some((node, room)) => {
                usage.add(&node.id, &group.name, &rules.demand, &room);
                distinct.record(&group.name, &node);
                rules.spread_counts.add(&rules.spreads, &node);
                let mut alloc = new_allocation(eval, job, group, placement.index, &node);
                room.assign_to(&mut alloc);
                if let Some(previous) = &placement.previous {
                    alloc.previous_allocation = previous.id.clone();
                    alloc.reschedule_tracker = placement.tracker.clone();
                }
                outcome.plan.node_allocation.entry(node.id.clone()).or_default().push(alloc);
            }
            None => {
                outcome.failed_tg_allocs.insert(group.name.clone(), metric);
                *outcome.queued.entry(group.name.clone()).or_default() += 1;
            }
        }
    }
}

/// The best of up to `rules.limit` feasible nodes with room, with the ports it assigns.
#[allow(clippy::too_many_arguments)]
fn pick_node(
    job: &Job,
    rules: &GroupRules,
    placement: &Placement,
    cursor: &mut NodeCursor,
    usage: &mut NodeUsage,
    distinct: &DistinctProperties,
    state: &dyn StateView,
    config: &SchedulerConfiguration,
    metric: &mut AllocMetric,
) -> Option<(Arc<Node>, Room)> {
    let group = rules.group;
    let mut best: Option<(f64, &Arc<Node>, Room)> = None;
    let mut fitting = 0;
    let mut last = None;
    for (position, node) in cursor.walk() {
        last = Some(position);
        if !node_is_feasible(job, group, node, metric) {
            continue;
        }
        if let Some(job_wide) = rules.distinct {
            usage.used(node, state);
            let scope = if job_wide { None } else { Some(group.name.as_str()) };
            if usage.job_allocs_on(&node.id, scope) > 0 {
                metric.nodes_filtered += 1;
                *metric.constraint_filtered.entry("distinct_hosts".into()).or_default() += 1;
                continue;
            }
        }
        if let Some(reason) = distinct.refusal(&group.name, node) {
            metric.nodes_filtered += 1;
            *metric.constraint_filtered.entry(reason).or_default() += 1;
            continue;
        }
        let Some(room) = room_on(node, group, &rules.demand, usage, state, metric) else {
            continue;
        };
        let capacity = node_capacity(node);
        let collisions = usage.collisions(&node.id, &group.name);
        let avoid = placement.avoid_nodes.contains(&node.id);
        let score = rules.score(config, &capacity, &room.after, collisions, node, avoid);
        if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
            best = Some((score, node, room));
        }
        fitting += 1;
        if fitting >= rules.limit {
            break;
        }
    }
    let best = best.map(|(_, node, room)| (node.clone(), room));
    if let Some(position) = last {
        cursor.stop_after(position);
    }
    best
}

/// Whether the node has room for one more allocation of the group: the ports it would get
/// and the node's usage with it; records the exhausted dimension in `metric` otherwise.
pub(super) fn room_on(
    node: &Node,
    group: &TaskGroup,
    demand: &Resources,
    usage: &mut NodeUsage,
    state: &dyn StateView,
    metric: &mut AllocMetric,
) -> Option<Room> {
    let used = usage.used(node, state);
    let capacity = node_capacity(node);
    let demand = &demand_on(node, group, demand);
    let host_ip = node.attributes.get("unique.network.ip-address").map_or("127.0.0.1", String::as_str);
    let assigned = exhausted_dimension(&capacity, &used, demand)
        .map(str::to_string)
        .map_or_else(|| ports::assign(group, usage.ports(&node.id), host_ip, fastrand::u64(..)), Err);
    match assigned {
        Ok(ports) => {
            let after = Resources {
                cpu: used.cpu + demand.cpu,
                memory_mb: used.memory_mb + demand.memory_mb,
                ..Resources::default()
            };
            let task_cores = assign_cores(group, usage.cores(&node.id), capacity.cores);
            Some(Room { ports, task_cores, core_mhz: core_mhz(node), after })
        }
        Err(dimension) => {
            metric.nodes_exhausted += 1;
            *metric.dimension_exhausted.entry(dimension).or_default() += 1;
            *metric.class_exhausted.entry(node.node_class.clone()).or_default() += 1;
            None
        }
    }
}

/// The lowest free CPU ids for each task that asks for whole cores (the count was checked
/// against the node's cores already).
fn assign_cores(group: &TaskGroup, reserved: &HashSet<u16>, total: u32) -> BTreeMap<String, Vec<u16>> {
    let mut free = (0..total.min(u32::from(u16::MAX)) as u16).filter(|c| !reserved.contains(c));
    group
        .tasks
        .iter()
        .filter(|t| t.resources.cores > 0)
        .map(|t| (t.name.clone(), free.by_ref().take(t.resources.cores as usize).collect()))
        .collect()
}

pub(super) fn new_allocation(
    eval: &Evaluation,
    job: &Arc<Job>,
    group: &TaskGroup,
    index: u32,
    node: &Node,
) -> Allocation {
    let now = now_nanos();
    Allocation {
        id: generate_id(),
        namespace: job.namespace.clone(),
        eval_id: eval.id.clone(),
        name: format!("{}.{}[{}]", job.id, group.name, index),
        node_id: node.id.clone(),
        node_name: node.name.clone(),
        job_id: job.id.clone(),
        job: Some(job.clone()),
        task_group: group.name.clone(),
        allocated_resources: AllocatedResources {
            tasks: group.tasks.iter().map(|t| (t.name.clone(), t.resources)).collect(),
            shared: SharedResources { disk_mb: group.ephemeral_disk.map_or(0, |d| d.size_mb), ports: Vec::new() },
            task_cores: BTreeMap::new(),
        },
        desired_status: DesiredStatus::Run,
        client_status: ClientStatus::Pending,
        create_time: now,
        modify_time: now,
        ..Allocation::default()
    }
}
