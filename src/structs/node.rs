//! Client nodes: what they are, what they have and whether they are alive.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    #[default]
    Initializing,
    Ready,
    Down,
    /// Missed its heartbeats, but runs allocations that may wait for it (`disconnect`).
    Disconnected,
}

impl std::fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NodeStatus::Initializing => "initializing",
            NodeStatus::Ready => "ready",
            NodeStatus::Down => "down",
            NodeStatus::Disconnected => "disconnected",
        })
    }
}

/// A client node as registered with the servers.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Node {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub datacenter: String,
    pub node_class: String,
    pub node_pool: String,
    #[serde(rename = "HTTPAddr")]
    pub http_addr: String,
    pub attributes: BTreeMap<String, String>,
    pub meta: BTreeMap<String, String>,
    pub node_resources: NodeResources,
    /// Capacity kept back for the operating system and the agent.
    pub reserved_resources: NodeResources,
    pub drivers: BTreeMap<String, DriverInfo>,
    /// Host directories the client offers to jobs (`client { host_volume "name" { ... } }`).
    pub host_volumes: BTreeMap<String, ClientHostVolumeConfig>,
    pub status: NodeStatus,
    pub status_description: String,
    pub status_updated_at: i64,
    pub scheduling_eligibility: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// A host volume as a node offers it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ClientHostVolumeConfig {
    pub name: String,
    pub path: String,
    pub read_only: bool,
}

impl Node {
    /// The value of a node reference as job files write it inside `${...}`: `attr.<name>`,
    /// `meta.<name>`, `node.unique.id`, `node.unique.name`, `node.datacenter`, `node.class`
    /// or `node.pool`. `None` when the node has no such value.
    pub fn lookup(&self, reference: &str) -> Option<String> {
        if let Some(attr) = reference.strip_prefix("attr.") {
            return self.attributes.get(attr).cloned();
        }
        if let Some(meta) = reference.strip_prefix("meta.") {
            return self.meta.get(meta).cloned();
        }
        match reference {
            "node.unique.id" => Some(self.id.clone()),
            "node.unique.name" => Some(self.name.clone()),
            "node.datacenter" => Some(self.datacenter.clone()),
            "node.class" => Some(self.node_class.clone()),
            "node.pool" => Some(self.node_pool.clone()),
            _ => None,
        }
    }

    /// Whether both nodes have the same drivers in the same health with the same facts
    /// (when they were fingerprinted aside).
    pub fn same_drivers(&self, other: &Node) -> bool {
        let facts = |n: &Node| -> Vec<(String, bool, bool, BTreeMap<String, String>)> {
            n.drivers.iter().map(|(name, d)| (name.clone(), d.detected, d.healthy, d.attributes.clone())).collect()
        };
        facts(self) == facts(other)
    }

    /// Whether the node has the driver, detected and healthy.
    pub fn has_healthy_driver(&self, driver: &str) -> bool {
        self.drivers.get(driver).is_some_and(|d| d.detected && d.healthy)
    }
}

/// Capacity a node offers to tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeResources {
    pub cpu: NodeCpuResources,
    pub memory: NodeMemoryResources,
    pub disk: NodeDiskResources,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeCpuResources {
    /// Total MHz across all cores.
    pub cpu_shares: u64,
    pub total_cpu_cores: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeMemoryResources {
    #[serde(rename = "MemoryMB")]
    pub memory_mb: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeDiskResources {
    #[serde(rename = "DiskMB")]
    pub disk_mb: u64,
}

/// A driver's state on a node, from the client's fingerprint.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DriverInfo {
    pub attributes: BTreeMap<String, String>,
    pub detected: bool,
    pub healthy: bool,
    pub health_description: String,
    pub update_time: i64,
}

/// One row of `/v1/nodes`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeListStub {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub datacenter: String,
    pub node_class: String,
    pub node_pool: String,
    pub address: String,
    pub version: String,
    pub drivers: BTreeMap<String, DriverInfo>,
    pub status: NodeStatus,
    pub status_description: String,
    pub scheduling_eligibility: String,
    pub drain: bool,
    pub create_index: u64,
    pub modify_index: u64,
}
