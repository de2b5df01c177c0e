//! What one scheduler run sees of each node as it plans: the node's load from the state,
//! less the allocations the plan stops, plus what the plan has placed, and how many of the
//! job's allocations each node holds (for anti-affinity and `distinct_hosts`).

use super::StateView;
use crate::structs::{AllocatedPort, Allocation, Job, Node, Resources};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// What a placement takes on its node besides resources: host ports and CPU ids.
#[derive(Debug, Clone, Default)]
pub struct Room {
    pub ports: Vec<AllocatedPort>,
    pub task_cores: BTreeMap<String, Vec<u16>>,
    /// The MHz of one of the node's cores.
    pub core_mhz: u64,
    /// The node's usage with the placement.
    pub after: Resources,
}

impl Room {
    /// Gives the allocation the ports and CPU ids this room holds for it; a task with
    /// whole cores is allocated their MHz as its CPU.
    pub fn assign_to(self, alloc: &mut Allocation) {
        alloc.allocated_resources.shared.ports = self.ports;
        for (task, cores) in &self.task_cores {
            if let Some(resources) = alloc.allocated_resources.tasks.get_mut(task) {
                resources.cpu = cores.len() as u64 * self.core_mhz;
            }
        }
        alloc.allocated_resources.task_cores = self.task_cores;
    }
}

pub struct NodeUsage {
    job_key: (String, String),
    /// Live allocations the plan stops, by node.
    stopping: HashMap<String, Vec<Allocation>>,
    stopping_ids: HashSet<String>,
    used: HashMap<String, Resources>,
    ports: HashMap<String, HashSet<u16>>,
    /// CPU ids reserved per node.
    cores: HashMap<String, HashSet<u16>>,
    /// The job's live allocations per group and node.
    collisions: HashMap<String, HashMap<String, u32>>,
    /// The job's live allocations the plan keeps.
    running: Vec<Arc<Allocation>>,
}

impl NodeUsage {
    /// Usage for placing `job`, whose allocations are `existing`, with the plan's `stops`
    /// already taken out.
    pub fn new<'a>(
        job: &Job,
        existing: &[Arc<Allocation>],
        stops: impl IntoIterator<Item = &'a Allocation>,
    ) -> NodeUsage {
        let mut usage = NodeUsage {
            job_key: (job.namespace.clone(), job.id.clone()),
            stopping: HashMap::new(),
            stopping_ids: HashSet::new(),
            used: HashMap::new(),
            ports: HashMap::new(),
            cores: HashMap::new(),
            collisions: HashMap::new(),
            running: Vec::new(),
        };
        for stop in stops {
            usage.record_stop(stop);
        }
        let running: Vec<Arc<Allocation>> =
            existing.iter().filter(|a| !a.is_terminal() && !usage.stopping_ids.contains(&a.id)).cloned().collect();
        for alloc in &running {
            usage.count(&alloc.task_group, &alloc.node_id);
        }
        usage.running = running;
        usage
    }

    /// The job's live allocations the plan keeps (as they were when usage was first
    /// worked out).
    pub fn running(&self) -> &[Arc<Allocation>] {
        &self.running
    }

    fn record_stop(&mut self, alloc: &Allocation) {
        if self.stopping_ids.insert(alloc.id.clone()) && !alloc.client_status.is_terminal() {
            self.stopping.entry(alloc.node_id.clone()).or_default().push(alloc.clone());
        }
    }

    /// Whether the plan stops this allocation.
    pub fn is_stopping(&self, alloc_id: &str) -> bool {
        self.stopping_ids.contains(alloc_id)
    }

    /// The plan stops (or evicts) a live allocation after usage was first computed.
    pub fn stop(&mut self, alloc: &Allocation) {
        if self.stopping_ids.contains(&alloc.id) {
            return;
        }
        self.record_stop(alloc);
        if alloc.client_status.is_terminal() {
            return;
        }
        if let Some(used) = self.used.get_mut(&alloc.node_id) {
            *used = used.saturating_sub(&alloc.allocated_resources.total());
        }
        if let Some(ports) = self.ports.get_mut(&alloc.node_id) {
            for port in &alloc.allocated_resources.shared.ports {
                ports.remove(&port.value);
            }
        }
        if let Some(cores) = self.cores.get_mut(&alloc.node_id) {
            for core in alloc.allocated_resources.task_cores.values().flatten() {
                cores.remove(core);
            }
        }
        if (alloc.namespace.as_str(), alloc.job_id.as_str()) == (self.job_key.0.as_str(), self.job_key.1.as_str()) {
            let count = self.collisions.get_mut(&alloc.task_group).and_then(|nodes| nodes.get_mut(&alloc.node_id));
            if let Some(count) = count {
                *count = count.saturating_sub(1);
            }
        }
    }

    /// What the node's live allocations use, as this plan leaves it.
    pub fn used(&mut self, node: &Node, state: &dyn StateView) -> Resources {
        if let Some(used) = self.used.get(&node.id) {
            return *used;
        }
        let load = state.node_load(&node.id);
        let mut used = load.used;
        let mut ports = load.ports.clone();
        let mut cores = load.cores.clone();
        for alloc in self.stopping.get(&node.id).into_iter().flatten() {
            used = used.saturating_sub(&alloc.allocated_resources.total());
            for port in &alloc.allocated_resources.shared.ports {
                ports.remove(&port.value);
            }
            for core in alloc.allocated_resources.task_cores.values().flatten() {
                cores.remove(core);
            }
        }
        self.ports.insert(node.id.clone(), ports);
        self.cores.insert(node.id.clone(), cores);
        self.used.insert(node.id.clone(), used);
        used
    }

    /// The host ports held on the node; [`NodeUsage::used`] must have been called for it.
    pub fn ports(&self, node_id: &str) -> &HashSet<u16> {
        &self.ports[node_id]
    }

    /// The CPU ids reserved on the node; [`NodeUsage::used`] must have been called for it.
    pub fn cores(&self, node_id: &str) -> &HashSet<u16> {
        &self.cores[node_id]
    }

    /// This job's allocations on the node: of one group, or of all its groups.
    pub fn job_allocs_on(&self, node_id: &str, group: Option<&str>) -> u32 {
        match group {
            Some(group) => self.collisions(node_id, group),
            None => self.collisions.values().filter_map(|nodes| nodes.get(node_id)).sum(),
        }
    }

    /// This job's allocations of `group` on the node.
    pub fn collisions(&self, node_id: &str, group: &str) -> u32 {
        self.collisions.get(group).and_then(|nodes| nodes.get(node_id)).copied().unwrap_or(0)
    }

    fn count(&mut self, group: &str, node_id: &str) {
        let nodes = match self.collisions.get_mut(group) {
            Some(nodes) => nodes,
            None => self.collisions.entry(group.to_string()).or_default(),
        };
        *nodes.entry(node_id.to_string()).or_default() += 1;
    }

    /// Counts a placement the plan makes.
    pub fn add(&mut self, node_id: &str, group: &str, demand: &Resources, room: &Room) {
        self.used.entry(node_id.to_string()).or_default().add(demand);
        self.ports.entry(node_id.to_string()).or_default().extend(room.ports.iter().map(|p| p.value));
        self.cores.entry(node_id.to_string()).or_default().extend(room.task_cores.values().flatten());
        self.count(group, node_id);
    }
}
