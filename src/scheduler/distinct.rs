//! `distinct_property` constraints: at most `value` (default 1) allocations of the job (a
//! job-level constraint) or of the group (a group-level one) per distinct value of a node
//! property, counting what runs and what this plan places.

use super::constraint::resolve;
use super::usage::NodeUsage;
use super::StateView;
use crate::structs::{Constraint, Job, Node};
use std::collections::HashMap;

struct Rule {
    attribute: String,
    limit: u32,
    /// The group the rule counts; `None` for a job-level rule, which counts every group.
    group: Option<String>,
    counts: HashMap<String, u32>,
}

impl Rule {
    fn counts_group(&self, group: &str) -> bool {
        self.group.as_deref().is_none_or(|g| g == group)
    }
}

/// The job's `distinct_property` rules with their counts so far.
pub struct DistinctProperties {
    rules: Vec<Rule>,
}

fn rule(c: &Constraint, group: Option<&str>) -> Option<Rule> {
    (c.operand == "distinct_property").then(|| Rule {
        attribute: c.l_target.clone(),
        limit: c.r_target.parse().ok().filter(|n| *n > 0).unwrap_or(1),
        group: group.map(str::to_string),
        counts: HashMap::new(),
    })
}

impl DistinctProperties {
    pub fn new(job: &Job, usage: &NodeUsage, state: &dyn StateView) -> DistinctProperties {
        let job_level = job.constraints.iter().filter_map(|c| rule(c, None));
        let group_level =
            job.task_groups.iter().flat_map(|g| g.constraints.iter().filter_map(|c| rule(c, Some(&g.name))));
        let mut rules = DistinctProperties { rules: job_level.chain(group_level).collect() };
        if !rules.rules.is_empty() {
            for alloc in usage.running() {
                if let Some(node) = state.node(&alloc.node_id) {
                    rules.record(&alloc.task_group, &node);
                }
            }
        }
        rules
    }

    /// Why the node may not take another allocation of `group`, if it may not.
    pub fn refusal(&self, group: &str, node: &Node) -> Option<String> {
        self.rules.iter().filter(|r| r.counts_group(group)).find_map(|r| match resolve(&r.attribute, node) {
            None => Some(format!("missing property {}", r.attribute)),
            Some(value) if r.counts.get(&value).copied().unwrap_or(0) >= r.limit => {
                Some(format!("distinct_property: {}={value} used by {} allocs", r.attribute, r.limit))
            }
            Some(_) => None,
        })
    }

    /// Counts an allocation of `group` on the node.
    pub fn record(&mut self, group: &str, node: &Node) {
        for rule in self.rules.iter_mut().filter(|r| r.counts_group(group)) {
            if let Some(value) = resolve(&rule.attribute, node) {
                *rule.counts.entry(value).or_default() += 1;
            }
        }
    }
}
