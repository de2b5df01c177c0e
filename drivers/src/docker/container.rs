//! The container a task runs in, as the body of `POST /containers/create`: command,
//! environment, labels, published ports, the allocation's directories and the task's
//! volumes and mounts, and its resource limits.

use super::config::{DockerConfig, MountType};
use crate::{DriverError, TaskConfig};
use serde_json::{json, Map, Value};
use std::path::{Component, Path, PathBuf};

/// The label every container the driver creates carries: the task's id.
pub const TASK_LABEL: &str = "rove.task_id";
/// The label carrying the allocation's id.
pub const ALLOC_LABEL: &str = "rove.alloc_id";
/// The label carrying the directory of the agent's allocations (the task directory's
/// grandparent): it tells apart the containers of agents sharing an engine.
pub const ALLOCS_ROOT_LABEL: &str = "rove.allocs_root";

/// The directory holding the task's allocation directory, i.e. the agent's allocations.
pub fn allocs_root(cfg: &TaskConfig) -> String {
    cfg.task_dir.parent().and_then(|alloc| alloc.parent()).map(|root| root.display().to_string()).unwrap_or_default()
}

/// Where the allocation's directories appear inside the container, by the name of the
/// variable that points tasks at them.
const DIRS: [(&str, &str); 3] =
    [("NOMAD_ALLOC_DIR", "/alloc"), ("NOMAD_TASK_DIR", "/local"), ("NOMAD_SECRETS_DIR", "/secrets")];

/// The container's name: Nomad's `<task>-<alloc id>`.
pub fn name(cfg: &TaskConfig) -> String {
    format!("{}-{}", cfg.name, cfg.alloc_id)
}

/// The create request for the task.
pub fn create_body(cfg: &TaskConfig, config: &DockerConfig) -> Result<Value, DriverError> {
    let mut env = cfg.env.clone();
    for (var, inside) in DIRS {
        env.insert(var.to_string(), inside.to_string());
    }
    let cmd: Option<Vec<&String>> = match &config.command {
        Some(command) => Some(std::iter::once(command).chain(&config.args).collect()),
        None => (!config.args.is_empty()).then(|| config.args.iter().collect()),
    };
    let (exposed, bindings) = ports(cfg, config)?;
    let mut host = Map::new();
    host.insert("Binds".into(), json!(binds(cfg, config)));
    host.insert("Mounts".into(), Value::Array(mounts(cfg, config)));
    host.insert("PortBindings".into(), Value::Object(bindings));
    host.insert("Privileged".into(), json!(config.privileged));
    host.insert("LogConfig".into(), json!({ "Type": "json-file", "Config": { "max-size": "10m", "max-file": "2" } }));
    let r = &cfg.resources;
    let mib = |m: u64| m * 1024 * 1024;
    if r.memory_max_mb > 0 {
        host.insert("Memory".into(), json!(mib(r.memory_max_mb)));
        if r.memory_mb > 0 {
            host.insert("MemoryReservation".into(), json!(mib(r.memory_mb)));
        }
    } else if r.memory_mb > 0 {
        host.insert("Memory".into(), json!(mib(r.memory_mb)));
    }
    if r.memory_max_mb > 0 || r.memory_mb > 0 {
        // No swap beyond the limit, as with exec.
        host.insert("MemorySwap".into(), host["Memory"].clone());
    }
    if r.cpu_mhz > 0 {
        // The engine refuses shares below 2.
        host.insert("CpuShares".into(), json!(r.cpu_mhz.max(2)));
    }
    if let Some(mode) = &config.network_mode {
        host.insert("NetworkMode".into(), json!(mode));
    }
    let mut body = Map::new();
    body.insert("Image".into(), json!(config.image));
    body.insert("Env".into(), json!(env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>()));
    body.insert("Labels".into(), Value::Object(labels(cfg, config)));
    body.insert("ExposedPorts".into(), Value::Object(exposed));
    body.insert("HostConfig".into(), Value::Object(host));
    if let Some(cmd) = cmd {
        body.insert("Cmd".into(), json!(cmd));
    }
    if let Some(entrypoint) = &config.entrypoint {
        body.insert("Entrypoint".into(), json!(entrypoint));
    }
    if let Some(dir) = &config.work_dir {
        body.insert("WorkingDir".into(), json!(dir));
    }
    if let Some(user) = &cfg.user {
        body.insert("User".into(), json!(user));
    }
    Ok(Value::Object(body))
}

/// The task's labels, then Nomad's and rove's own (which win).
fn labels(cfg: &TaskConfig, config: &DockerConfig) -> Map<String, Value> {
    let mut labels: Map<String, Value> = config.labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let from_env = [
        ("com.hashicorp.nomad.job_id", "NOMAD_JOB_ID"),
        ("com.hashicorp.nomad.job_name", "NOMAD_JOB_NAME"),
        ("com.hashicorp.nomad.task_group_name", "NOMAD_GROUP_NAME"),
        ("com.hashicorp.nomad.namespace", "NOMAD_NAMESPACE"),
    ];
    for (label, var) in from_env {
        if let Some(value) = cfg.env.get(var) {
            labels.insert(label.into(), json!(value));
        }
    }
    labels.insert("com.hashicorp.nomad.alloc_id".into(), json!(cfg.alloc_id));
    labels.insert("com.hashicorp.nomad.task_name".into(), json!(cfg.name));
    labels.insert(ALLOC_LABEL.into(), json!(cfg.alloc_id));
    labels.insert(TASK_LABEL.into(), json!(cfg.id));
    labels.insert(ALLOCS_ROOT_LABEL.into(), json!(allocs_root(cfg)));
    labels
}

/// `host:container[:ro]` binds: the allocation's directories (those that exist), then
/// the task's `volumes`, relative host paths taken from the task directory (an absolute
/// path replaces it in `join`).
fn binds(cfg: &TaskConfig, config: &DockerConfig) -> Vec<String> {
    let dirs = [
        (Some(cfg.alloc_dir.clone()), "/alloc"),
        (Some(cfg.task_dir.join("local")), "/local"),
        (Some(cfg.task_dir.join("secrets")), "/secrets"),
    ];
    let mut binds: Vec<String> = dirs
        .into_iter()
        .filter_map(|(host, inside)| host.filter(|h| h.is_dir()).map(|h| format!("{}:{inside}", h.display())))
        .collect();
    for volume in &config.volumes {
        let host = cfg.task_dir.join(&volume.host);
        let mode = if volume.read_only { ":ro" } else { "" };
        binds.push(format!("{}:{}{mode}", host.display(), volume.container));
    }
    for mount in &cfg.mounts {
        let mode = if mount.read_only { ":ro" } else { "" };
        binds.push(format!("{}:{}{mode}", mount.host.display(), mount.task.display()));
    }
    binds
}

fn mounts(cfg: &TaskConfig, config: &DockerConfig) -> Vec<Value> {
    config
        .mounts
        .iter()
        .map(|m| {
            let (kind, source) = match m.kind {
                MountType::Bind => ("bind", cfg.task_dir.join(&m.source).display().to_string()),
                MountType::Volume => ("volume", m.source.clone()),
                MountType::Tmpfs => ("tmpfs", String::new()),
            };
            let mut mount = json!({ "Type": kind, "Target": m.target, "ReadOnly": m.readonly });
            if !source.is_empty() {
                mount["Source"] = json!(source);
            }
            mount
        })
        .collect()
}

/// Refuses `volumes` and bind mounts whose host path leaves the allocation directory, for
/// nodes that do not enable host volumes (Nomad's default). Named volumes and tmpfs are
/// the engine's own and stay allowed.
pub fn check_host_paths(cfg: &TaskConfig, config: &DockerConfig) -> Result<(), DriverError> {
    let alloc_dir = cfg.task_dir.parent().unwrap_or(&cfg.task_dir);
    let volumes = config.volumes.iter().map(|v| v.host.as_str());
    let binds = config.mounts.iter().filter(|m| m.kind == MountType::Bind).map(|m| m.source.as_str());
    match volumes.chain(binds).find(|host| !lexically_normal(&cfg.task_dir.join(host)).starts_with(alloc_dir)) {
        Some(host) => Err(DriverError::Config(format!(
            "host path {host:?} is outside the allocation directory and host volumes are not enabled on this node \
             (docker plugin option volumes {{ enabled = true }})"
        ))),
        None => Ok(()),
    }
}

/// The path with `.` and `..` resolved without looking at the file system.
fn lexically_normal(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    normal
}

/// The create request's `ExposedPorts`.
type Exposed = Map<String, Value>;
/// The create request's `HostConfig.PortBindings`.
type Bindings = Map<String, Value>;

/// `ExposedPorts` and `PortBindings` for the task's port labels: the host port and
/// address the scheduler gave the label, published to its port inside the container, for
/// TCP and UDP.
fn ports(cfg: &TaskConfig, config: &DockerConfig) -> Result<(Exposed, Bindings), DriverError> {
    let (mut exposed, mut bindings) = (Map::new(), Map::new());
    for label in &config.ports {
        let var = |prefix: &str| cfg.env.get(&format!("{prefix}_{label}"));
        let host_port = var("NOMAD_HOST_PORT")
            .ok_or_else(|| DriverError::Config(format!("port {label:?} is not one of the group's network ports")))?;
        let inside = var("NOMAD_PORT").unwrap_or(host_port);
        let ip = var("NOMAD_IP").cloned().unwrap_or_default();
        for proto in ["tcp", "udp"] {
            let key = format!("{inside}/{proto}");
            exposed.insert(key.clone(), json!({}));
            bindings.insert(key, json!([{ "HostIp": ip, "HostPort": host_port }]));
        }
    }
    Ok((exposed, bindings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Resources;
    use std::collections::BTreeMap;

    fn task() -> TaskConfig {
        let env: BTreeMap<String, String> = [
            ("NOMAD_TASK_DIR", "/host/a1/web/local"),
            ("NOMAD_PORT_http", "8080"),
            ("NOMAD_HOST_PORT_http", "23456"),
            ("NOMAD_IP_http", "127.0.0.1"),
            ("NOMAD_JOB_NAME", "shop"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        TaskConfig {
            id: "a1-web".into(),
            name: "web".into(),
            alloc_id: "a1".into(),
            task_dir: "/nonexistent/a1/web".into(),
            alloc_dir: "/nonexistent/a1/alloc".into(),
            env,
            config: Value::Null,
            user: None,
            resources: Resources { cpu_mhz: 500, memory_mb: 128, memory_max_mb: 256, cores: Vec::new() },
            stdout_path: "/dev/null".into(),
            stderr_path: "/dev/null".into(),
            mounts: Vec::new(),
        }
    }

    #[test]
    fn builds_the_create_request() {
        let config = DockerConfig::parse(&json!({
            "image": "app:1",
            "command": "/bin/app",
            "args": ["-v"],
            "ports": ["http"],
            "volumes": ["data:/data:ro"],
            "mount": { "type": "bind", "source": "/etc/ssl", "target": "/etc/ssl", "readonly": true },
            "labels": { "team": "core", "rove.task_id": "spoofed" },
        }))
        .unwrap();
        let body = create_body(&task(), &config).unwrap();
        assert_eq!(body["Cmd"], json!(["/bin/app", "-v"]));
        assert!(body["Env"].as_array().unwrap().contains(&json!("NOMAD_TASK_DIR=/local")));
        assert_eq!(body["Labels"]["team"], "core");
        assert_eq!(body["Labels"][TASK_LABEL], "a1-web");
        assert_eq!(body["Labels"][ALLOCS_ROOT_LABEL], "/nonexistent");
        assert_eq!(body["Labels"]["com.hashicorp.nomad.job_name"], "shop");
        assert_eq!(body["ExposedPorts"], json!({ "8080/tcp": {}, "8080/udp": {} }));
        let host = &body["HostConfig"];
        assert_eq!(host["PortBindings"]["8080/tcp"], json!([{ "HostIp": "127.0.0.1", "HostPort": "23456" }]));
        assert_eq!(host["Binds"], json!(["/nonexistent/a1/web/data:/data:ro"]));
        assert_eq!(
            host["Mounts"][0],
            json!({ "Type": "bind", "Source": "/etc/ssl", "Target": "/etc/ssl", "ReadOnly": true })
        );
        assert_eq!((host["Memory"].as_u64(), host["MemoryReservation"].as_u64()), (Some(256 << 20), Some(128 << 20)));
        assert_eq!(host["CpuShares"], 500);
        assert_eq!(name(&task()), "web-a1");
    }

    #[test]
    fn host_paths_stay_in_the_allocation_unless_enabled() {
        let allowed = json!({ "image": "a", "volumes": ["data:/d", "../alloc/data:/shared", "/nonexistent/a1/x:/x"] });
        assert!(check_host_paths(&task(), &DockerConfig::parse(&allowed).unwrap()).is_ok());
        for escaping in [json!({ "volumes": ["/etc:/etc"] }), json!({ "volumes": ["../../..:/root"] })] {
            let mut config = escaping;
            config["image"] = "a".into();
            let err = check_host_paths(&task(), &DockerConfig::parse(&config).unwrap()).unwrap_err();
            assert!(err.to_string().contains("outside the allocation directory"), "{err}");
        }
        let bind = json!({ "image": "a", "mount": { "type": "bind", "source": "/", "target": "/host" } });
        assert!(check_host_paths(&task(), &DockerConfig::parse(&bind).unwrap()).is_err());
        let named = json!({ "image": "a", "mount": { "type": "volume", "source": "cache", "target": "/c" } });
        assert!(check_host_paths(&task(), &DockerConfig::parse(&named).unwrap()).is_ok());
    }

    #[test]
    fn unknown_port_labels_are_refused() {
        let config = DockerConfig::parse(&json!({ "image": "app", "ports": ["admin"] })).unwrap();
        let err = create_body(&task(), &config).unwrap_err();
        assert!(err.to_string().contains("\"admin\""), "{err}");
    }
}
