//! Port assignment: a group's static ports must be free on the node, and each dynamic port
//! gets a free host port from Nomad's default range. No two live allocations on a node hold
//! the same port.

use crate::structs::{AllocatedPort, TaskGroup};
use std::collections::HashSet;

pub const MIN_DYNAMIC_PORT: u16 = 20000;
pub const MAX_DYNAMIC_PORT: u16 = 32000;

/// Assigns the group's ports given the ports already `used` on the node; the error is the
/// placement-metric dimension that ran out, as Nomad names it. `seed` picks where the
/// search for dynamic ports starts, so nodes do not all hand out the same ports.
pub fn assign(group: &TaskGroup, used: &HashSet<u16>, host_ip: &str, seed: u64) -> Result<Vec<AllocatedPort>, String> {
    if group.networks.is_empty() {
        return Ok(Vec::new());
    }
    let mut taken = used.clone();
    let mut out = Vec::new();
    for port in group.networks.iter().flat_map(|n| &n.reserved_ports) {
        if !taken.insert(port.value) {
            return Err(format!("network: reserved port collision {}={}", port.label, port.value));
        }
        out.push(AllocatedPort { label: port.label.clone(), value: port.value, to: port.to, host_ip: host_ip.into() });
    }
    let range = u64::from(MAX_DYNAMIC_PORT - MIN_DYNAMIC_PORT) + 1;
    for port in group.networks.iter().flat_map(|n| &n.dynamic_ports) {
        let start = seed % range;
        let free = (0..range)
            .map(|i| MIN_DYNAMIC_PORT + ((start + i) % range) as u16)
            .find(|candidate| !taken.contains(candidate))
            .ok_or_else(|| "network: dynamic port selection failed".to_string())?;
        taken.insert(free);
        out.push(AllocatedPort { label: port.label.clone(), value: free, to: port.to, host_ip: host_ip.into() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structs::{NetworkResource, Port};

    fn group(reserved: &[(&str, u16)], dynamic: &[&str]) -> TaskGroup {
        let port = |label: &str, value: u16| Port { label: label.into(), value, ..Port::default() };
        TaskGroup {
            networks: vec![NetworkResource {
                reserved_ports: reserved.iter().map(|(l, v)| port(l, *v)).collect(),
                dynamic_ports: dynamic.iter().map(|l| port(l, 0)).collect(),
                ..NetworkResource::default()
            }],
            ..TaskGroup::default()
        }
    }

    #[test]
    fn static_ports_collide_and_dynamic_ports_avoid_used_ones() {
        let used: HashSet<u16> = [8080, MIN_DYNAMIC_PORT].into();
        let err = assign(&group(&[("http", 8080)], &[]), &used, "10.0.0.1", 0).unwrap_err();
        assert_eq!(err, "network: reserved port collision http=8080");
        let ports = assign(&group(&[("admin", 9000)], &["a", "b"]), &used, "10.0.0.1", 0).unwrap();
        assert_eq!(ports[0].value, 9000);
        assert_eq!(ports[1].value, MIN_DYNAMIC_PORT + 1, "the used first port is skipped");
        assert_eq!(ports[2].value, MIN_DYNAMIC_PORT + 2);
        assert!(ports.iter().all(|p| p.host_ip == "10.0.0.1"));
        let all: HashSet<u16> = (MIN_DYNAMIC_PORT..=MAX_DYNAMIC_PORT).collect();
        assert!(assign(&group(&[], &["x"]), &all, "ip", 7).is_err());
    }
}
