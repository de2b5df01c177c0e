//! Which nodes one evaluation looks at, and how many. The nodes are shuffled once per
//! evaluation and walked round-robin across its placements, and a placement stops after
//! ranking a bounded number of nodes that fit (as Nomad's limit iterator does), so the
//! cost of a placement grows with the log of the cluster size, not with the cluster.

use crate::structs::{JobType, Node};
use std::sync::Arc;

/// How many fitting nodes to rank for one placement: two for services (the power of two
/// choices), the log of the node count for batch work, and more when affinities or spreads
/// need a wider view to steer by. Never more than the cluster.
pub fn candidate_limit(job_type: JobType, node_count: usize, steered: bool) -> usize {
    let log2 = (node_count.max(2) as f64).log2().ceil() as usize;
    let limit = match job_type {
        JobType::Batch | JobType::Sysbatch => log2.max(2),
        JobType::Service | JobType::System => 2,
    };
    let limit = if steered { limit.max(4 * log2) } else { limit };
    limit.min(node_count.max(1))
}

/// The nodes of one evaluation in a random order, with a cursor that carries on from one
/// placement to the next.
pub struct NodeCursor {
    nodes: Vec<Arc<Node>>,
    next: usize,
}

impl NodeCursor {
    /// Shuffles `nodes` with `seed`; the same seed gives the same order.
    pub fn new(mut nodes: Vec<Arc<Node>>, seed: u64) -> NodeCursor {
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        fastrand::Rng::with_seed(seed).shuffle(&mut nodes);
        NodeCursor { nodes, next: 0 }
    }

    pub fn nodes(&self) -> &[Arc<Node>] {
        &self.nodes
    }

    /// Every node once, starting where the last walk stopped; the walk's end is set by
    /// [`NodeCursor::stop_after`].
    pub fn walk(&self) -> impl Iterator<Item = (usize, &Arc<Node>)> {
        let n = self.nodes.len();
        (0..n).map(move |step| {
            let position = (self.next + step) % n;
            (position, &self.nodes[position])
        })
    }

    /// The next walk starts after `position`.
    pub fn stop_after(&mut self, position: usize) {
        self.next = (position + 1) % self.nodes.len().max(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_grow_with_the_log_of_the_cluster() {
        assert_eq!(candidate_limit(JobType::Service, 10_000, false), 2);
        assert_eq!(candidate_limit(JobType::Batch, 10_000, false), 14);
        assert_eq!(candidate_limit(JobType::Service, 10_000, true), 56);
        assert_eq!(candidate_limit(JobType::Batch, 1, false), 1);
        assert_eq!(candidate_limit(JobType::Service, 20, true), 20);
    }

    #[test]
    fn walks_continue_round_robin_and_visit_every_node_once() {
        let nodes: Vec<_> = (0..5).map(|i| Arc::new(Node { id: format!("n{i}"), ..Node::default() })).collect();
        let mut cursor = NodeCursor::new(nodes, 7);
        let first: Vec<usize> = cursor.walk().map(|(p, _)| p).collect();
        assert_eq!(first, vec![0, 1, 2, 3, 4]);
        cursor.stop_after(1);
        let second: Vec<usize> = cursor.walk().map(|(p, _)| p).collect();
        assert_eq!(second, vec![2, 3, 4, 0, 1]);
    }

    #[test]
    fn the_shuffle_depends_on_the_seed_only() {
        let nodes: Vec<_> = (0..50).map(|i| Arc::new(Node { id: format!("n{i:02}"), ..Node::default() })).collect();
        let ids = |c: &NodeCursor| c.nodes().iter().map(|n| n.id.clone()).collect::<Vec<_>>();
        let mut reversed = nodes.clone();
        reversed.reverse();
        assert_eq!(ids(&NodeCursor::new(nodes.clone(), 7)), ids(&NodeCursor::new(reversed, 7)));
        assert_ne!(ids(&NodeCursor::new(nodes.clone(), 7)), ids(&NodeCursor::new(nodes.clone(), 8)));
        let sorted: Vec<String> = nodes.iter().map(|n| n.id.clone()).collect();
        assert_ne!(ids(&NodeCursor::new(nodes, 7)), sorted, "shuffled");
    }
}
