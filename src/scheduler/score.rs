//! Scoring a feasible node for one placement. Each scorer yields a value in [-1, 1]; a
//! node's score is the mean of the scorers that apply to it, as Nomad combines them: the
//! fit (bin-packing or spread), job anti-affinity, `affinity` and `spread`.

use super::constraint;
use crate::structs::{Affinity, Node, Resources, SchedulerAlgorithm, Spread};
use std::collections::HashMap;

/// How full the node would be after the placement: 0 for empty, 1 for full, as Nomad's
/// best-fit formula on cpu and memory computes it.
fn fullness(capacity: &Resources, after: &Resources) -> f64 {
    let free = |used: u64, total: u64| if total == 0 { 0.0 } else { 1.0 - used as f64 / total as f64 };
    let total = 10f64.powf(free(after.cpu, capacity.cpu)) + 10f64.powf(free(after.memory_mb, capacity.memory_mb));
    ((20.0 - total) / 18.0).clamp(0.0, 1.0)
}

/// The fit score: bin-packing prefers fuller nodes, spread prefers emptier ones.
pub fn fit(algorithm: SchedulerAlgorithm, capacity: &Resources, after: &Resources) -> f64 {
    match algorithm {
        SchedulerAlgorithm::Binpack => fullness(capacity, after),
        SchedulerAlgorithm::Spread => 1.0 - fullness(capacity, after),
    }
}

/// The penalty for putting another allocation of the same job and group on a node that
/// already has `collisions` of them; `None` when it has none.
pub fn anti_affinity(collisions: u32, group_count: u32) -> Option<f64> {
    (collisions > 0).then(|| -f64::from(collisions + 1) / f64::from(group_count.max(1)))
}

/// The weighted share of `affinities` the node matches, in [-1, 1]; `None` without any.
pub fn affinity(affinities: &[&Affinity], node: &Node) -> Option<f64> {
    let total: f64 = affinities.iter().map(|a| f64::from(a.weight).abs()).sum();
    if total == 0.0 {
        return None;
    }
    let matched: f64 = affinities.iter().filter(|a| affinity_matches(a, node)).map(|a| f64::from(a.weight)).sum();
    Some(matched / total)
}

fn affinity_matches(a: &Affinity, node: &Node) -> bool {
    let as_constraint = crate::structs::Constraint {
        l_target: a.l_target.clone(),
        r_target: a.r_target.clone(),
        operand: a.operand.clone(),
    };
    constraint::satisfies(&as_constraint, node)
}

/// How many of a group's allocations run (or are being placed) per value of each spread
/// attribute; kept up to date as the scheduler places.
#[derive(Debug, Default)]
pub struct SpreadCounts {
    per_attribute: HashMap<String, HashMap<String, u32>>,
}

impl SpreadCounts {
    /// Counts one allocation on `node` under every spread attribute.
    pub fn add(&mut self, spreads: &[&Spread], node: &Node) {
        for spread in spreads {
            let value = constraint::resolve(&spread.attribute, node).unwrap_or_default();
            *self.per_attribute.entry(spread.attribute.clone()).or_default().entry(value).or_default() += 1;
        }
    }

    /// The weighted spread score of placing one more allocation of a group of `count` on
    /// `node`, in [-1, 1]; `None` without spreads.
    pub fn score(&self, spreads: &[&Spread], node: &Node, count: u32) -> Option<f64> {
        let total_weight: f64 = spreads.iter().map(|s| f64::from(s.weight.max(0))).sum();
        if total_weight == 0.0 {
            return None;
        }
        let weighted: f64 = spreads
            .iter()
            .map(|spread| {
                let counts = self.per_attribute.get(&spread.attribute);
                let value = constraint::resolve(&spread.attribute, node);
                f64::from(spread.weight.max(0)) * spread_score(spread, counts, value.as_deref(), count)
            })
            .sum();
        Some(weighted / total_weight)
    }
}

/// One spread's score for a node whose attribute has `value`. With targets: how far the
/// value stays below its desired share with this placement counted (a value without a
/// target shares what the targets leave), negative once it would pass it; evenly
/// otherwise: how far the value is below the most used one.
fn spread_score(spread: &Spread, counts: Option<&HashMap<String, u32>>, value: Option<&str>, count: u32) -> f64 {
    let Some(value) = value else {
        return -1.0;
    };
    let used = counts.and_then(|c| c.get(value)).copied().unwrap_or(0);
    if spread.spread_target.is_empty() {
        let max = counts.and_then(|c| c.values().max()).copied().unwrap_or(0);
        return if max == 0 { 1.0 } else { f64::from(max - used.min(max)) / f64::from(max) };
    }
    let percent = match spread.spread_target.iter().find(|t| t.value == value) {
        Some(target) => f64::from(target.percent),
        None => 100.0 - spread.spread_target.iter().map(|t| f64::from(t.percent)).sum::<f64>(),
    };
    let desired = f64::from(count) * percent / 100.0;
    if desired <= 0.0 {
        return -1.0;
    }
    ((desired - f64::from(used + 1)) / desired).clamp(-1.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structs::SpreadTarget;

    fn node(dc: &str) -> Node {
        Node { datacenter: dc.into(), ..Node::default() }
    }

    #[test]
    fn binpack_prefers_fuller_nodes_and_spread_emptier_ones() {
        let capacity = Resources { cpu: 1000, memory_mb: 1000, ..Resources::default() };
        let half = Resources { cpu: 500, memory_mb: 500, ..Resources::default() };
        let most = Resources { cpu: 900, memory_mb: 900, ..Resources::default() };
        let binpack = |after| fit(SchedulerAlgorithm::Binpack, &capacity, after);
        let spread = |after| fit(SchedulerAlgorithm::Spread, &capacity, after);
        assert!(binpack(&most) > binpack(&half));
        assert!(spread(&half) > spread(&most));
        assert_eq!(binpack(&capacity), 1.0);
    }

    #[test]
    fn anti_affinity_applies_only_to_collisions() {
        assert_eq!(anti_affinity(0, 3), None);
        assert_eq!(anti_affinity(1, 4), Some(-0.5));
    }

    #[test]
    fn affinity_is_the_weighted_share_matched() {
        let a = |value: &str, weight| Affinity {
            l_target: "${node.datacenter}".into(),
            r_target: value.into(),
            operand: "=".into(),
            weight,
        };
        let (likes, dislikes) = (a("dc1", 75), a("dc2", -25));
        let both = [&likes, &dislikes];
        assert_eq!(affinity(&both, &node("dc1")), Some(0.75));
        assert_eq!(affinity(&both, &node("dc2")), Some(-0.25));
        assert_eq!(affinity(&both, &node("dc3")), Some(0.0));
        assert_eq!(affinity(&[], &node("dc1")), None);
    }

    #[test]
    fn spread_targets_favour_the_value_furthest_below_its_share() {
        let spread = Spread {
            attribute: "${node.datacenter}".into(),
            weight: 100,
            spread_target: vec![SpreadTarget { value: "dc1".into(), percent: 70 }],
        };
        let spreads = [&spread];
        let mut counts = SpreadCounts::default();
        for _ in 0..7 {
            counts.add(&spreads, &node("dc1"));
        }
        // dc1 has its 70% of 10: one more passes it. dc2 (the remaining 30%) has none.
        let near = |got: Option<f64>, want: f64| got.is_some_and(|g| (g - want).abs() < 1e-9);
        assert!(near(counts.score(&spreads, &node("dc1"), 10), -1.0 / 7.0));
        assert!(near(counts.score(&spreads, &node("dc2"), 10), 2.0 / 3.0));
        assert!(counts.score(&spreads, &node("dc1"), 10) < counts.score(&spreads, &node("dc2"), 10));
    }

    #[test]
    fn even_spread_favours_the_least_used_value() {
        let spread = Spread { attribute: "${node.datacenter}".into(), weight: 50, spread_target: vec![] };
        let spreads = [&spread];
        let mut counts = SpreadCounts::default();
        assert_eq!(counts.score(&spreads, &node("dc1"), 4), Some(1.0));
        counts.add(&spreads, &node("dc1"));
        counts.add(&spreads, &node("dc1"));
        counts.add(&spreads, &node("dc2"));
        assert_eq!(counts.score(&spreads, &node("dc1"), 4), Some(0.0));
        assert_eq!(counts.score(&spreads, &node("dc2"), 4), Some(0.5));
        assert_eq!(counts.score(&spreads, &node("dc3"), 4), Some(1.0));
        let unknown = Node { datacenter: String::new(), ..Node::default() };
        assert!(
            counts.score(&[&Spread { attribute: "${meta.rack}".into(), ..spread.clone() }], &unknown, 4).unwrap() < 0.0
        );
    }
}
