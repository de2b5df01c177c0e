//! Reading agent config files (HCL) and directories of them.

use super::PartialConfig;
use crate::jobspec::decode::{Decoder, Schema, Scope};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}:{column}: {message}\n  {source_line}")]
    Syntax { path: PathBuf, line: usize, column: usize, message: String, source_line: String },
    #[error("{path}: {}", .problems.join("\n  "))]
    Invalid { path: PathBuf, problems: Vec<String> },
}

const HOMES: &[(&str, &str)] = &[
    ("ports", "top-level"),
    ("advertise", "top-level"),
    ("server", "top-level"),
    ("server_join", "server"),
    ("client", "top-level"),
    ("host_volume", "client"),
    ("drain_on_shutdown", "client"),
    ("config", "plugin"),
];
const TOP: Schema = Schema {
    attributes: &["data_dir", "bind_addr", "region", "datacenter", "name", "log_level"],
    blocks: &["ports", "advertise", "server", "client", "plugin"],
    homes: HOMES,
    unsupported: &[],
};
const PORTS: Schema = Schema { attributes: &["http", "rpc", "serf"], blocks: &[], homes: HOMES, unsupported: &[] };
const ADVERTISE: Schema = Schema { attributes: &["http", "rpc", "serf"], blocks: &[], homes: HOMES, unsupported: &[] };
const SERVER: Schema = Schema {
    attributes: &[
        "enabled",
        "bootstrap_expect",
        "heartbeat_grace",
        "min_heartbeat_ttl",
        "raft_multiplier",
        "raft_snapshot_threshold",
    ],
    blocks: &["server_join"],
    homes: HOMES,
    unsupported: &[],
};
const SERVER_JOIN: Schema =
    Schema { attributes: &["retry_join", "retry_interval"], blocks: &[], homes: HOMES, unsupported: &[] };
const CLIENT: Schema = Schema {
    attributes: &[
        "enabled",
        "servers",
        "node_class",
        "node_pool",
        "chroot_env",
        "gc_interval",
        "gc_max_allocs",
        "gc_disk_usage_threshold",
    ],
    blocks: &["meta", "chroot_env", "host_volume", "drain_on_shutdown"],
    homes: HOMES,
    unsupported: &[],
};
const DRAIN: Schema =
    Schema { attributes: &["deadline", "force", "ignore_system_jobs"], blocks: &[], homes: HOMES, unsupported: &[] };
const HOST_VOLUME: Schema = Schema { attributes: &["path", "read_only"], blocks: &[], homes: HOMES, unsupported: &[] };
const PLUGIN: Schema = Schema { attributes: &[], blocks: &["config"], homes: HOMES, unsupported: &[] };

/// Loads a file, or every `*.hcl` file of a directory in name order, merged.
pub fn load_path(path: &Path) -> Result<PartialConfig, ConfigError> {
    let io = |source| ConfigError::Io { path: path.to_path_buf(), source };
    if !path.is_dir() {
        return load_file(path);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "hcl"))
        .collect();
    files.sort();
    let mut merged = PartialConfig::default();
    for file in files {
        merged.merge(load_file(&file)?);
    }
    Ok(merged)
}

fn load_file(path: &Path) -> Result<PartialConfig, ConfigError> {
    let src = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
    parse(&src, path)
}

/// A named block's name (its label); a problem naming the block when it has none.
fn label(d: &mut Decoder, scope: &Scope, block: &hcl::Block, example: &str) -> Option<String> {
    let name = block.labels.first().map(|l| l.as_str().to_string());
    if name.is_none() {
        let kind = block.identifier.as_str();
        d.problem(scope, format!("{kind} block needs its name as a label: `{example} {{ ... }}`"));
    }
    name
}

pub fn parse(src: &str, path: &Path) -> Result<PartialConfig, ConfigError> {
    let body: hcl::Body = hcl::parse(src).map_err(|e| match e {
        hcl::Error::Parse(p) => ConfigError::Syntax {
            path: path.to_path_buf(),
            line: p.location().line(),
            column: p.location().column(),
            message: p.message().to_string(),
            source_line: src.lines().nth(p.location().line().saturating_sub(1)).unwrap_or_default().to_string(),
        },
        other => ConfigError::Invalid { path: path.to_path_buf(), problems: vec![other.to_string()] },
    })?;
    let mut d = Decoder::default();
    let top = Scope::new("", &body);
    d.check(&top, &TOP);
    let mut config = PartialConfig {
        data_dir: d.string(&top, "data_dir").map(PathBuf::from),
        bind_addr: d.string(&top, "bind_addr"),
        region: d.string(&top, "region"),
        datacenter: d.string(&top, "datacenter"),
        name: d.string(&top, "name"),
        log_level: d.string(&top, "log_level"),
        ..PartialConfig::default()
    };
    if let Some(level) = &config.log_level {
        if crate::logging::parse_level(level).is_none() {
            d.problem(&top, format!("log_level: {level:?} is not a level (TRACE, DEBUG, INFO, WARN, ERROR)"));
        }
    }
    for block in top.blocks("ports") {
        let ports = top.child(block);
        d.check(&ports, &PORTS);
        config.http_port = d.uint(&ports, "http").or(config.http_port);
        config.rpc_port = d.uint(&ports, "rpc").or(config.rpc_port);
        config.serf_port = d.uint(&ports, "serf").or(config.serf_port);
    }
    for block in top.blocks("advertise") {
        let advertise = top.child(block);
        d.check(&advertise, &ADVERTISE);
        config.advertise_rpc = d.string(&advertise, "rpc").or(config.advertise_rpc);
    }
    for block in top.blocks("server") {
        let server = top.child(block);
        d.check(&server, &SERVER);
        config.raft_multiplier = d.uint(&server, "raft_multiplier").or(config.raft_multiplier);
        config.raft_snapshot_threshold = d.uint(&server, "raft_snapshot_threshold").or(config.raft_snapshot_threshold);
        if config.raft_multiplier.is_some_and(|m| !(1..=10).contains(&m)) {
            d.problem(&server, "raft_multiplier: must be between 1 and 10");
        }
        for join in server.blocks("server_join") {
            let join = server.child(join);
            d.check(&join, &SERVER_JOIN);
            config.retry_join = d.strings(&join, "retry_join").or(config.retry_join);
            config.retry_interval = d.duration(&join, "retry_interval").or(config.retry_interval);
        }
        config.server_enabled = d.boolean(&server, "enabled").or(config.server_enabled);
        config.bootstrap_expect = d.uint(&server, "bootstrap_expect").or(config.bootstrap_expect);
        config.heartbeat_grace = d.duration(&server, "heartbeat_grace").or(config.heartbeat_grace);
        config.min_heartbeat_ttl = d.duration(&server, "min_heartbeat_ttl").or(config.min_heartbeat_ttl);
    }
    for block in top.blocks("client") {
        let client = top.child(block);
        d.check(&client, &CLIENT);
        config.client_enabled = d.boolean(&client, "enabled").or(config.client_enabled);
        config.servers = d.strings(&client, "servers").or(config.servers);
        config.node_class = d.string(&client, "node_class").or(config.node_class);
        config.node_pool = d.string(&client, "node_pool").or(config.node_pool);
        config.gc_interval = d.duration(&client, "gc_interval").or(config.gc_interval);
        config.gc_max_allocs = d.uint(&client, "gc_max_allocs").or(config.gc_max_allocs);
        if let Some(threshold) = d.uint::<u32>(&client, "gc_disk_usage_threshold") {
            if threshold > 100 {
                d.problem(&client, format!("gc_disk_usage_threshold: {threshold} is not a percentage"));
            }
            config.gc_disk_usage_threshold = Some(f64::from(threshold));
        }
        for block in client.blocks("host_volume") {
            let Some(name) = label(&mut d, &client, block, "host_volume \"data\"") else { continue };
            let volume = client.child(block);
            d.check(&volume, &HOST_VOLUME);
            let path = d.string(&volume, "path").unwrap_or_default();
            if !path.starts_with('/') {
                d.problem(&volume, format!("host_volume {name:?}: path must be an absolute path, got {path:?}"));
            }
            let read_only = d.boolean(&volume, "read_only").unwrap_or(false);
            config.host_volumes.insert(name.clone(), crate::structs::ClientHostVolumeConfig { name, path, read_only });
        }
        for block in client.blocks("drain_on_shutdown") {
            // Nomad's deadline, force and ignore_system_jobs are read; every task is
            // stopped within its own kill_timeout.
            let drain = client.child(block);
            d.check(&drain, &DRAIN);
            config.drain_on_shutdown = Some(true);
        }
        for meta in client.blocks("meta") {
            config.meta.extend(d.string_map(&client.child(meta)));
        }
        // `chroot_env = { "/host/path" = "/path/in/task" }` replaces the default set as a
        // whole, as in Nomad.
        if client.blocks("chroot_env").next().is_some() || client.attr("chroot_env").is_some() {
            config.chroot_env = Some(d.map_named(&client, "chroot_env"));
        }
    }
    for block in top.blocks("plugin") {
        let Some(name) = label(&mut d, &top, block, "plugin \"raw_exec\"") else { continue };
        let plugin = top.child(block);
        d.check(&plugin, &PLUGIN);
        let mut settings = serde_json::Map::new();
        for config_block in plugin.blocks("config") {
            settings.extend(d.free_form(&plugin.child(config_block)));
        }
        config.plugins.insert(name, serde_json::Value::Object(settings));
    }
    if d.problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid { path: path.to_path_buf(), problems: d.problems })
    }
}
