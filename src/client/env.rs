//! The task environment: the `NOMAD_*` variables job files rely on, and interpolation of
//! `${NOMAD_*}`, `${env[...]}`, `${node.*}`, `${attr.*}` and `${meta.*}` in a task's `env`
//! and driver config.

use crate::structs::{Allocation, Node, Task};
use std::collections::BTreeMap;
use std::path::Path;

/// Where a task's directories are on this node.
pub struct TaskPaths<'a> {
    pub alloc_dir: &'a Path,
    pub task_dir: &'a Path,
}

/// Builds the task's full environment: `NOMAD_*` values, then the task's own `env`
/// (interpolated), as Nomad orders them.
pub fn build(
    alloc: &Allocation,
    task: &Task,
    node: &Node,
    region: &str,
    paths: &TaskPaths,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let job = alloc.job.as_ref();
    let group = job.and_then(|j| j.task_group(&alloc.task_group));
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };
    set("NOMAD_ALLOC_DIR", paths.alloc_dir.join("alloc").display().to_string());
    set("NOMAD_TASK_DIR", paths.task_dir.join("local").display().to_string());
    set("NOMAD_SECRETS_DIR", paths.task_dir.join("secrets").display().to_string());
    set("NOMAD_ALLOC_ID", alloc.id.clone());
    set("NOMAD_SHORT_ALLOC_ID", alloc.id.chars().take(8).collect());
    set("NOMAD_ALLOC_NAME", alloc.name.clone());
    set("NOMAD_ALLOC_INDEX", alloc.index().to_string());
    set("NOMAD_GROUP_NAME", alloc.task_group.clone());
    set("NOMAD_TASK_NAME", task.name.clone());
    set("NOMAD_JOB_ID", alloc.job_id.clone());
    set("NOMAD_JOB_NAME", job.map(|j| j.name.clone()).unwrap_or_default());
    set("NOMAD_NAMESPACE", alloc.namespace.clone());
    set("NOMAD_REGION", region.to_string());
    set("NOMAD_DC", node.datacenter.clone());
    set("NOMAD_CPU_LIMIT", task.resources.cpu.to_string());
    set("NOMAD_MEMORY_LIMIT", task.resources.memory_mb.to_string());
    if task.resources.memory_max_mb > 0 {
        set("NOMAD_MEMORY_MAX_LIMIT", task.resources.memory_max_mb.to_string());
    }
    // A task with a network of its own (bridge mode, or a container) binds to the port's
    // `to`, which is published on the host port; other tasks bind to the host port.
    let own_network = task.driver == "docker" || group.is_some_and(|g| g.networks.iter().any(|n| n.mode == "bridge"));
    for port in &alloc.allocated_resources.shared.ports {
        let inside = if own_network && port.to > 0 { port.to.to_string() } else { port.value.to_string() };
        let label = &port.label;
        set(&format!("NOMAD_IP_{label}"), port.host_ip.clone());
        set(&format!("NOMAD_PORT_{label}"), inside.clone());
        set(&format!("NOMAD_ADDR_{label}"), format!("{}:{inside}", port.host_ip));
        set(&format!("NOMAD_HOST_IP_{label}"), port.host_ip.clone());
        set(&format!("NOMAD_HOST_PORT_{label}"), port.value.to_string());
        set(&format!("NOMAD_HOST_ADDR_{label}"), format!("{}:{}", port.host_ip, port.value));
    }
    // Task meta overrides group meta, which overrides job meta.
    let metas = [job.map(|j| &j.meta), group.map(|g| &g.meta), Some(&task.meta)];
    for meta in metas.into_iter().flatten() {
        for (key, value) in meta {
            set(&format!("NOMAD_META_{key}"), value.clone());
            set(&format!("NOMAD_META_{}", key.to_uppercase()), value.clone());
        }
    }
    for (key, value) in &task.env {
        let value = interpolate(value, &env, node);
        env.insert(key.clone(), value);
    }
    env
}

/// Replaces every `${...}` this node can resolve; unknown references are left as written.
pub fn interpolate(input: &str, env: &BTreeMap<String, String>, node: &Node) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let key = after[..end].trim();
        match resolve(key, env, node) {
            Some(value) => out.push_str(&value),
            None => out.push_str(&rest[start..start + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn resolve(key: &str, env: &BTreeMap<String, String>, node: &Node) -> Option<String> {
    if let Some(name) = key.strip_prefix("env[").and_then(|k| k.strip_suffix(']')) {
        return env.get(name.trim_matches('"')).cloned();
    }
    node.lookup(key).or_else(|| env.get(key).cloned())
}

/// Interpolates every string inside a driver config.
pub fn interpolate_config(value: &serde_json::Value, env: &BTreeMap<String, String>, node: &Node) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(interpolate(s, env, node)),
        Value::Array(items) => Value::Array(items.iter().map(|v| interpolate_config(v, env, node)).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), interpolate_config(v, env, node))).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structs::{Job, TaskGroup};
    use std::sync::Arc;

    #[test]
    fn nomad_variables_and_interpolation() {
        let mut node = Node { id: "node-1".into(), datacenter: "dc1".into(), ..Node::default() };
        node.attributes.insert("cpu.arch".into(), "arm64".into());
        let mut task = Task { name: "api".into(), ..Task::default() };
        task.env.insert("GREETING".into(), "hi from ${NOMAD_ALLOC_INDEX} on ${attr.cpu.arch} ${node.unique.id}".into());
        task.env.insert("UNKNOWN".into(), "${attr.nope}".into());
        task.meta.insert("tier".into(), "web".into());
        let job = Job {
            id: "shop".into(),
            name: "shop".into(),
            task_groups: vec![TaskGroup { name: "web".into(), ..TaskGroup::default() }],
            ..Job::default()
        };
        let alloc = Allocation {
            id: "0123456789abcdef".into(),
            name: "shop.web[2]".into(),
            job_id: "shop".into(),
            task_group: "web".into(),
            job: Some(Arc::new(job)),
            ..Allocation::default()
        };
        let mut alloc = alloc;
        alloc.allocated_resources.shared.ports.push(crate::structs::AllocatedPort {
            label: "http".into(),
            value: 23456,
            to: 0,
            host_ip: "10.1.2.3".into(),
        });
        let paths = TaskPaths { alloc_dir: Path::new("/a"), task_dir: Path::new("/a/api") };
        let env = build(&alloc, &task, &node, "global", &paths);
        assert_eq!(env["NOMAD_PORT_http"], "23456");
        assert_eq!(env["NOMAD_ADDR_http"], "10.1.2.3:23456");
        assert_eq!(env["NOMAD_HOST_PORT_http"], "23456");
        assert_eq!(env["NOMAD_ALLOC_INDEX"], "2");
        assert_eq!(env["NOMAD_SHORT_ALLOC_ID"], "01234567");
        assert_eq!(env["NOMAD_TASK_DIR"], "/a/api/local");
        assert_eq!(env["NOMAD_ALLOC_DIR"], "/a/alloc");
        assert_eq!(env["NOMAD_META_tier"], "web");
        assert_eq!(env["NOMAD_META_TIER"], "web");
        assert_eq!(env["GREETING"], "hi from 2 on arm64 node-1");
        assert_eq!(env["UNKNOWN"], "${attr.nope}");
    }
}
