//! Node pools: named groups of client nodes that jobs are confined to (`node_pool` in a
//! job and in a client's config). `all` and `default` always exist.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The pool every node belongs to; a job in it may run on any node.
pub const ALL: &str = "all";
/// The pool of nodes and jobs that name none.
pub const DEFAULT: &str = "default";

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodePool {
    pub name: String,
    pub description: String,
    pub meta: BTreeMap<String, String>,
    pub create_index: u64,
    pub modify_index: u64,
}

impl NodePool {
    /// The two pools that always exist, with Nomad's descriptions.
    pub fn built_in() -> [NodePool; 2] {
        let pool = |name: &str, description: &str| NodePool {
            name: name.into(),
            description: description.into(),
            create_index: 1,
            modify_index: 1,
            ..NodePool::default()
        };
        [pool(ALL, "Node pool with all nodes in the cluster."), pool(DEFAULT, "Default node pool.")]
    }

    pub fn is_built_in(name: &str) -> bool {
        name == ALL || name == DEFAULT
    }

    /// Checks a pool's name as Nomad does: 1 to 128 letters, digits, `-` and `_`.
    pub fn validate_name(name: &str) -> Result<(), String> {
        let valid = (1..=128).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(())
        } else {
            Err(format!("invalid node pool name {name:?}: use 1 to 128 letters, digits, '-' and '_'"))
        }
    }
}
