//! Node pool endpoints: creating or updating pools (`node pool apply`) and deleting one
//! that no node and no live job uses. The built-in `all` and `default` cannot be changed.

use super::command::Command;
use super::{Server, ServerError};
use crate::structs::NodePool;

impl Server {
    pub async fn upsert_node_pool(&self, pool: NodePool) -> Result<u64, ServerError> {
        NodePool::validate_name(&pool.name).map_err(ServerError::BadRequest)?;
        if NodePool::is_built_in(&pool.name) {
            return Err(ServerError::BadRequest(format!("modifying node pool {:?} is not allowed", pool.name)));
        }
        self.proposer.propose(Command::NodePoolUpsert { pools: vec![pool] }).await
    }

    pub async fn delete_node_pool(&self, name: &str) -> Result<u64, ServerError> {
        if NodePool::is_built_in(name) {
            return Err(ServerError::BadRequest(format!("deleting node pool {name:?} is not allowed")));
        }
        let snap = self.state.snapshot();
        if snap.node_pool(name).is_none() {
            return Err(ServerError::NotFound(format!("node pool {name:?}")));
        }
        if let Some(node) = snap.nodes_by_prefix("").find(|n| n.node_pool == name) {
            return Err(ServerError::BadRequest(format!(
                "node pool {name:?} has nodes (node {} among them); move them to another pool first",
                node.name
            )));
        }
        if let Some(job) = snap.jobs("*", "").find(|j| j.node_pool == name && !j.stop) {
            return Err(ServerError::BadRequest(format!(
                "node pool {name:?} has non-terminal jobs (job {:?} among them)",
                job.id
            )));
        }
        self.proposer.propose(Command::NodePoolDelete { name: name.to_string() }).await
    }
}
