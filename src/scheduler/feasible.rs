//! Feasibility: which nodes can run a task group at all, and whether one has room for it.

use super::constraint;
use crate::structs::{AllocMetric, Job, Node, NodeStatus, Resources, TaskGroup};

/// Matches a datacenter against a job's pattern, where `*` stands for any run of characters.
pub fn datacenter_matches(pattern: &str, dc: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == dc,
        Some((head, tail)) => {
            dc.len() >= head.len()
                && dc.starts_with(head)
                && (0..=dc.len() - head.len()).any(|skip| datacenter_matches(tail, &dc[head.len() + skip..]))
        }
    }
}

/// Checks that do not depend on what already runs on the node; records why a node was
/// filtered in `metric`.
pub fn node_is_feasible(job: &Job, group: &TaskGroup, node: &Node, metric: &mut AllocMetric) -> bool {
    if node.status != NodeStatus::Ready || node.scheduling_eligibility == "ineligible" {
        return false;
    }
    if !job.datacenters.iter().any(|p| datacenter_matches(p, &node.datacenter)) {
        return false;
    }
    if !job.node_pool.is_empty() && job.node_pool != "all" && node.node_pool != job.node_pool {
        return false;
    }
    metric.nodes_evaluated += 1;
    if let Some(task) = group.tasks.iter().find(|t| !node.has_healthy_driver(&t.driver)) {
        filtered(metric, node, format!("missing drivers ({})", task.driver));
        return false;
    }
    if !has_host_volumes(group, node) {
        filtered(metric, node, "missing compatible host volumes".into());
        return false;
    }
    let task_constraints = group.tasks.iter().flat_map(|t| &t.constraints);
    let all = job.constraints.iter().chain(&group.constraints).chain(task_constraints);
    if let Some(failed) = all.filter(|c| !constraint::is_distinct(c)).find(|c| !constraint::satisfies(c, node)) {
        filtered(metric, node, constraint::describe(failed));
        return false;
    }
    true
}

/// Whether the node offers every host volume the group asks for, writable where the group
/// wants to write.
fn has_host_volumes(group: &TaskGroup, node: &Node) -> bool {
    group.volumes.values().filter(|v| v.volume_type == "host").all(|wanted| {
        node.host_volumes.get(&wanted.source).is_some_and(|offered| wanted.read_only || !offered.read_only)
    })
}

fn filtered(metric: &mut AllocMetric, node: &Node, reason: String) {
    metric.nodes_filtered += 1;
    *metric.constraint_filtered.entry(reason).or_default() += 1;
    *metric.class_filtered.entry(node.node_class.clone()).or_default() += 1;
}

/// Whether the job or group asks for at most one of its allocations per node, and at which
/// level: `Some(true)` for the whole job, `Some(false)` for the group.
pub fn distinct_hosts(job: &Job, group: &TaskGroup) -> Option<bool> {
    let asks = |cs: &[crate::structs::Constraint]| cs.iter().any(|c| c.operand == "distinct_hosts");
    if asks(&job.constraints) {
        Some(true)
    } else if asks(&group.constraints) {
        Some(false)
    } else {
        None
    }
}

/// What a group asks of a node: the sum of its tasks plus its shared disk.
pub fn group_demand(group: &TaskGroup) -> Resources {
    let mut demand = Resources { disk_mb: group.ephemeral_disk.map_or(0, |d| d.size_mb), ..Resources::default() };
    for task in &group.tasks {
        demand.cpu += task.resources.cpu;
        demand.cores += task.resources.cores;
        demand.memory_mb += task.resources.memory_mb;
    }
    demand
}

/// The MHz of one of the node's cores: what a task that reserves a whole core takes of the
/// node's CPU.
pub fn core_mhz(node: &Node) -> u64 {
    let cpu = &node.node_resources.cpu;
    cpu.cpu_shares.checked_div(u64::from(cpu.total_cpu_cores)).unwrap_or(0)
}

/// The group's demand on this node: tasks that reserve whole cores take those cores' MHz
/// instead of the `cpu` they may also give, as in Nomad.
pub fn demand_on(node: &Node, group: &TaskGroup, demand: &Resources) -> Resources {
    let core_tasks_cpu: u64 = group.tasks.iter().filter(|t| t.resources.cores > 0).map(|t| t.resources.cpu).sum();
    Resources { cpu: demand.cpu - core_tasks_cpu + u64::from(demand.cores) * core_mhz(node), ..*demand }
}

/// What a node can give to allocations: its resources less what it reserves.
pub fn node_capacity(node: &Node) -> Resources {
    let r = &node.node_resources;
    let reserved = &node.reserved_resources;
    Resources {
        cpu: r.cpu.cpu_shares.saturating_sub(reserved.cpu.cpu_shares),
        cores: r.cpu.total_cpu_cores.saturating_sub(reserved.cpu.total_cpu_cores),
        memory_mb: r.memory.memory_mb.saturating_sub(reserved.memory.memory_mb),
        disk_mb: r.disk.disk_mb.saturating_sub(reserved.disk.disk_mb),
        ..Resources::default()
    }
}

/// The first dimension in which `used + demand` exceeds `capacity`, if any.
pub fn exhausted_dimension(capacity: &Resources, used: &Resources, demand: &Resources) -> Option<&'static str> {
    if used.cpu + demand.cpu > capacity.cpu {
        Some("cpu")
    } else if used.cores + demand.cores > capacity.cores {
        Some("cores")
    } else if used.memory_mb + demand.memory_mb > capacity.memory_mb {
        Some("memory")
    } else if used.disk_mb + demand.disk_mb > capacity.disk_mb {
        Some("disk")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{datacenter_matches, has_host_volumes};
    use crate::structs::{ClientHostVolumeConfig, Node, TaskGroup, VolumeRequest};

    #[test]
    fn host_volumes_must_be_offered_and_writable_when_written() {
        let offered = |read_only| ClientHostVolumeConfig { name: "data".into(), path: "/srv".into(), read_only };
        let wants = |read_only| TaskGroup {
            volumes: [(
                "v".to_string(),
                VolumeRequest { volume_type: "host".into(), source: "data".into(), read_only, ..Default::default() },
            )]
            .into(),
            ..TaskGroup::default()
        };
        let node = |volume: Option<ClientHostVolumeConfig>| Node {
            host_volumes: volume.into_iter().map(|v| (v.name.clone(), v)).collect(),
            ..Node::default()
        };
        assert!(has_host_volumes(&wants(false), &node(Some(offered(false)))));
        assert!(has_host_volumes(&wants(true), &node(Some(offered(true)))));
        assert!(!has_host_volumes(&wants(false), &node(Some(offered(true)))), "writing needs a writable volume");
        assert!(!has_host_volumes(&wants(true), &node(None)));
        assert!(has_host_volumes(&TaskGroup::default(), &node(None)), "no volumes asked, none needed");
    }

    #[test]
    fn datacenter_wildcards() {
        assert!(datacenter_matches("*", "dc1"));
        assert!(datacenter_matches("dc1", "dc1"));
        assert!(!datacenter_matches("dc1", "dc2"));
        assert!(datacenter_matches("eu-*", "eu-west"));
        assert!(!datacenter_matches("eu-*", "us-east"));
        assert!(datacenter_matches("*-west", "eu-west"));
        assert!(datacenter_matches("e*t", "eu-west"));
        assert!(!datacenter_matches("e*x", "eu-west"));
    }
}
