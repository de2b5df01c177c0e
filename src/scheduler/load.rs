//! What a node's live allocations hold (resources and host ports), kept per node by the
//! state store as allocations change, so that placing on a node or checking a plan costs
//! one lookup instead of a walk over the node's allocations.

use crate::structs::{Allocation, Resources};
use std::collections::HashSet;

/// The resources and host ports held on one node by its live allocations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeLoad {
    pub used: Resources,
    pub ports: HashSet<u16>,
    /// CPU ids reserved for tasks' whole cores.
    pub cores: HashSet<u16>,
}

impl NodeLoad {
    /// The load of these allocations, counting only the live ones.
    pub fn of<'a>(allocs: impl IntoIterator<Item = &'a Allocation>) -> NodeLoad {
        let mut load = NodeLoad::default();
        for alloc in allocs {
            load.add(alloc);
        }
        load
    }

    /// Counts a live allocation in; terminal ones hold nothing.
    pub fn add(&mut self, alloc: &Allocation) {
        if alloc.is_terminal() {
            return;
        }
        self.used.add(&alloc.allocated_resources.total());
        self.ports.extend(alloc.allocated_resources.shared.ports.iter().map(|p| p.value));
        self.cores.extend(alloc.allocated_resources.task_cores.values().flatten());
    }

    /// Takes a live allocation out again (it stopped, moved or is being replaced).
    pub fn remove(&mut self, alloc: &Allocation) {
        if alloc.is_terminal() {
            return;
        }
        self.used = self.used.saturating_sub(&alloc.allocated_resources.total());
        for port in &alloc.allocated_resources.shared.ports {
            self.ports.remove(&port.value);
        }
        for core in alloc.allocated_resources.task_cores.values().flatten() {
            self.cores.remove(core);
        }
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.used == Resources::default() && self.ports.is_empty() && self.cores.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structs::{AllocatedPort, ClientStatus, DesiredStatus};

    fn alloc(cpu: u64, port: u16, status: ClientStatus) -> Allocation {
        let mut a = Allocation { client_status: status, desired_status: DesiredStatus::Run, ..Allocation::default() };
        a.allocated_resources.tasks.insert("t".into(), Resources { cpu, memory_mb: cpu / 2, ..Resources::default() });
        a.allocated_resources.shared.ports.push(AllocatedPort { value: port, ..AllocatedPort::default() });
        a
    }

    #[test]
    fn only_live_allocations_hold_resources_and_ports() {
        let running = alloc(500, 20000, ClientStatus::Running);
        let done = alloc(300, 20001, ClientStatus::Complete);
        let mut load = NodeLoad::of([&running, &done]);
        assert_eq!((load.used.cpu, load.used.memory_mb), (500, 250));
        assert_eq!(load.ports, [20000].into());
        load.remove(&done);
        assert_eq!(load.used.cpu, 500, "removing a terminal allocation changes nothing");
        load.remove(&running);
        assert!(load.is_empty());
    }
}
