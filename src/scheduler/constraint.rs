//! Constraints: whether a node satisfies a job's, group's or task's hard placement rules,
//! with Nomad's operators and its way of resolving `${attr.*}`, `${node.*}` and `${meta.*}`.

use crate::structs::{Constraint, Node};
use std::cmp::Ordering;

/// A target's value on a node: interpolations are looked up, anything else is literal.
/// `None` when the node does not have the attribute.
pub fn resolve(target: &str, node: &Node) -> Option<String> {
    match target.strip_prefix("${").and_then(|t| t.strip_suffix('}')) {
        Some(reference) => node.lookup(reference),
        None => Some(target.to_string()),
    }
}

/// Constraints that depend on other allocations and are checked while ranking.
pub fn is_distinct(c: &Constraint) -> bool {
    matches!(c.operand.as_str(), "distinct_hosts" | "distinct_property")
}

/// How Nomad names a constraint in placement metrics.
pub fn describe(c: &Constraint) -> String {
    format!("{} {} {}", c.l_target, c.operand, c.r_target).trim().to_string()
}

/// Whether the node satisfies the constraint (distinct ones always pass here).
pub fn satisfies(c: &Constraint, node: &Node) -> bool {
    let left = resolve(&c.l_target, node);
    let right = resolve(&c.r_target, node);
    match c.operand.as_str() {
        "=" | "==" | "is" => left.is_some() && left == right,
        "!=" | "not" => left != right,
        "<" | "<=" | ">" | ">=" => match (left, right) {
            (Some(l), Some(r)) => order_holds(&c.operand, compare(&l, &r)),
            _ => false,
        },
        "regexp" => match (left, right) {
            (Some(l), Some(r)) => regex_lite::Regex::new(&r).is_ok_and(|re| re.is_match(&l)),
            _ => false,
        },
        "version" | "semver" => match (left, right) {
            (Some(l), Some(r)) => version_matches(&l, &r),
            _ => false,
        },
        "set_contains" | "set_contains_all" => match (left, right) {
            (Some(l), Some(r)) => items(&r).all(|want| items(&l).any(|have| have == want)),
            _ => false,
        },
        "set_contains_any" => match (left, right) {
            (Some(l), Some(r)) => items(&r).any(|want| items(&l).any(|have| have == want)),
            _ => false,
        },
        "is_set" => left.is_some(),
        "is_not_set" => left.is_none(),
        "distinct_hosts" | "distinct_property" => true,
        _ => false,
    }
}

fn items(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn order_holds(op: &str, ord: Ordering) -> bool {
    match op {
        "<" => ord == Ordering::Less,
        "<=" => ord != Ordering::Greater,
        ">" => ord == Ordering::Greater,
        _ => ord != Ordering::Less,
    }
}

/// Numbers compare as numbers, anything else as text, as Nomad does.
fn compare(l: &str, r: &str) -> Ordering {
    match (l.parse::<f64>(), r.parse::<f64>()) {
        (Ok(a), Ok(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
        _ => l.cmp(r),
    }
}

/// Dotted numeric versions: "5.15.0-1034-aws" compares as 5.15.0.
fn version_parts(v: &str) -> Option<Vec<u64>> {
    let core = v.trim().trim_start_matches('v');
    let core = core.split(['-', '+']).next()?;
    core.split('.').map(|p| p.parse().ok()).collect()
}

fn compare_versions(a: &[u64], b: &[u64]) -> Ordering {
    let len = a.len().max(b.len());
    (0..len)
        .map(|i| a.get(i).unwrap_or(&0).cmp(b.get(i).unwrap_or(&0)))
        .find(|o| *o != Ordering::Equal)
        .unwrap_or(Ordering::Equal)
}

/// `">= 1.2, < 2.0"`: every comma-separated clause must hold; `~>` allows the last given
/// part to grow.
fn version_matches(version: &str, constraint: &str) -> bool {
    let Some(have) = version_parts(version) else { return false };
    constraint.split(',').map(str::trim).filter(|c| !c.is_empty()).all(|clause| {
        let op_len = clause.find(|c: char| c.is_ascii_digit() || c == 'v').unwrap_or(clause.len());
        let (op, want) = (clause[..op_len].trim(), &clause[op_len..]);
        let Some(want) = version_parts(want) else { return false };
        let ord = compare_versions(&have, &want);
        match op {
            "" | "=" | "==" => ord == Ordering::Equal,
            "!=" => ord != Ordering::Equal,
            "~>" => {
                let prefix = &want[..want.len().saturating_sub(1).max(1)];
                ord != Ordering::Less
                    && have.len() >= prefix.len()
                    && have[..prefix.len() - 1] == prefix[..prefix.len() - 1]
            }
            op => order_holds(op, ord),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Node {
        let mut n = Node { id: "n1".into(), name: "pi-4".into(), datacenter: "edge-1".into(), ..Node::default() };
        n.attributes.insert("kernel.name".into(), "linux".into());
        n.attributes.insert("kernel.version".into(), "6.1.21-v8+".into());
        n.attributes.insert("cpu.numcores".into(), "4".into());
        n.attributes.insert("cpu.arch".into(), "arm64".into());
        n.attributes.insert("os.features".into(), "a, b,c".into());
        n.meta.insert("rack".into(), "r2".into());
        n
    }

    fn holds(l: &str, op: &str, r: &str) -> bool {
        satisfies(&Constraint { l_target: l.into(), operand: op.into(), r_target: r.into() }, &node())
    }

    #[test]
    fn every_operator() {
        assert!(holds("${attr.kernel.name}", "=", "linux"));
        assert!(!holds("${attr.kernel.name}", "=", "windows"));
        assert!(!holds("${attr.missing}", "=", "x"));
        assert!(holds("${attr.kernel.name}", "!=", "windows"));
        assert!(holds("${attr.missing}", "!=", "x"));
        assert!(holds("${attr.cpu.numcores}", ">=", "4"));
        assert!(holds("${attr.cpu.numcores}", ">", "3"));
        assert!(!holds("${attr.cpu.numcores}", "<", "4"));
        assert!(holds("${attr.cpu.numcores}", "<", "10"), "numbers compare as numbers, not text");
        assert!(holds("${node.datacenter}", "regexp", "^edge-[0-9]+$"));
        assert!(!holds("${node.datacenter}", "regexp", "^core"));
        assert!(holds("${attr.kernel.version}", "version", ">= 5.10, < 7"));
        assert!(!holds("${attr.kernel.version}", "semver", ">= 6.2"));
        assert!(holds("${attr.kernel.version}", "version", "~> 6.1"));
        assert!(holds("${attr.os.features}", "set_contains", "a,c"));
        assert!(!holds("${attr.os.features}", "set_contains_all", "a,d"));
        assert!(holds("${attr.os.features}", "set_contains_any", "d,b"));
        assert!(holds("${meta.rack}", "is_set", ""));
        assert!(holds("${meta.zone}", "is_not_set", ""));
        assert!(holds("${node.unique.name}", "=", "pi-4"));
        assert!(!holds("${attr.kernel.name}", "no-such-operator", "linux"));
    }
}
