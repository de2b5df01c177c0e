//! Agent configuration in HCL, the shape of Nomad's agent config. Files are read into
//! partial configs that merge in order (defaults, `-dev`, each `-config`, then flags), so a
//! later source wins only for what it sets.

mod file;

pub use file::{load_path, ConfigError};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    pub data_dir: Option<PathBuf>,
    pub bind_addr: String,
    pub region: String,
    pub datacenter: String,
    pub name: String,
    pub log_level: String,
    pub ports: Ports,
    /// `advertise { rpc }`: the RPC address other agents use for this one, when it is not
    /// the bind address (a bind address of 0.0.0.0, or a NAT in between).
    pub advertise_rpc: Option<String>,
    pub server: ServerSection,
    pub client: ClientSection,
    /// `plugin "raw_exec" { config { enabled = true } }` as `{"raw_exec": {"enabled": true}}`.
    pub plugins: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub http: u16,
    pub rpc: u16,
    pub serf: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerSection {
    pub enabled: bool,
    pub bootstrap_expect: u32,
    /// `server_join { retry_join retry_interval }`: servers to meet until this one is in a
    /// cluster, with their RPC ports (4647 when an address has none).
    pub retry_join: Vec<String>,
    pub retry_interval: Duration,
    pub raft_multiplier: u32,
    /// Log entries applied between snapshots; each snapshot truncates the log.
    pub raft_snapshot_threshold: u64,
    /// Added to a node's heartbeat TTL before the node is marked down.
    pub heartbeat_grace: Duration,
    /// The heartbeat TTL nodes are given.
    pub min_heartbeat_ttl: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClientSection {
    pub enabled: bool,
    pub servers: Vec<String>,
    pub node_class: String,
    pub node_pool: String,
    pub meta: BTreeMap<String, String>,
    /// `chroot_env { "/host/path" = "/path/in/task" }`: what exec and java tasks see of the
    /// host; `None` keeps Nomad's default set.
    pub chroot_env: Option<BTreeMap<String, String>>,
    /// `host_volume "name" { path read_only }`: host directories offered to jobs.
    pub host_volumes: BTreeMap<String, crate::structs::ClientHostVolumeConfig>,
    /// `gc_interval`, `gc_max_allocs`, `gc_disk_usage_threshold`.
    pub gc: crate::client::gc::GcConfig,
    /// `drain_on_shutdown { }`: stop every task when the agent shuts down (by default they
    /// keep running and are picked up by the next start).
    pub drain_on_shutdown: bool,
}

impl AgentConfig {
    pub fn raw_exec_enabled(&self) -> bool {
        self.plugins.get("raw_exec").and_then(|c| c.get("enabled")).and_then(|e| e.as_bool()).unwrap_or(false)
    }

    /// `plugin "docker" { config { endpoint = "unix:///..." allow_privileged = true
    /// volumes { enabled = true } } }`.
    pub fn docker_options(&self) -> rove_drivers::DockerOptions {
        let config = self.plugins.get("docker");
        let setting = |key: &str| config.and_then(|c| c.get(key));
        let defaults = rove_drivers::DockerOptions::default();
        rove_drivers::DockerOptions {
            endpoint: setting("endpoint").and_then(|e| e.as_str()).map_or(defaults.endpoint, str::to_string),
            allow_privileged: setting("allow_privileged").and_then(|a| a.as_bool()).unwrap_or(false),
            // `volumes { enabled = true }`: a block, so a list of one object.
            volumes_enabled: setting("volumes")
                .and_then(|v| v.as_array().and_then(|blocks| blocks.first()).or(Some(v)))
                .and_then(|v| v.get("enabled"))
                .and_then(|e| e.as_bool())
                .unwrap_or(false),
        }
    }
}

/// Config values from one source; `None` means the source did not set it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartialConfig {
    pub data_dir: Option<PathBuf>,
    pub bind_addr: Option<String>,
    pub region: Option<String>,
    pub datacenter: Option<String>,
    pub name: Option<String>,
    pub log_level: Option<String>,
    pub http_port: Option<u16>,
    pub rpc_port: Option<u16>,
    pub serf_port: Option<u16>,
    pub advertise_rpc: Option<String>,
    pub server_enabled: Option<bool>,
    pub bootstrap_expect: Option<u32>,
    pub retry_join: Option<Vec<String>>,
    pub retry_interval: Option<Duration>,
    pub raft_multiplier: Option<u32>,
    pub raft_snapshot_threshold: Option<u64>,
    pub heartbeat_grace: Option<Duration>,
    pub min_heartbeat_ttl: Option<Duration>,
    pub client_enabled: Option<bool>,
    pub servers: Option<Vec<String>>,
    pub node_class: Option<String>,
    pub node_pool: Option<String>,
    pub meta: BTreeMap<String, String>,
    pub chroot_env: Option<BTreeMap<String, String>>,
    pub host_volumes: BTreeMap<String, crate::structs::ClientHostVolumeConfig>,
    pub gc_interval: Option<Duration>,
    pub gc_max_allocs: Option<usize>,
    pub gc_disk_usage_threshold: Option<f64>,
    pub drain_on_shutdown: Option<bool>,
    pub plugins: BTreeMap<String, serde_json::Value>,
}

macro_rules! take_set {
    ($self:ident, $other:ident, $($field:ident),*) => {
        $(if $other.$field.is_some() { $self.$field = $other.$field; })*
    };
}

impl PartialConfig {
    /// What `-dev` sets: server and client in one, on loopback, with raw_exec enabled.
    pub fn dev() -> PartialConfig {
        PartialConfig {
            bind_addr: Some("127.0.0.1".into()),
            server_enabled: Some(true),
            bootstrap_expect: Some(1),
            client_enabled: Some(true),
            plugins: [("raw_exec".to_string(), serde_json::json!({ "enabled": true }))].into(),
            ..PartialConfig::default()
        }
    }

    /// Lays `other` over this config: what `other` sets wins.
    pub fn merge(&mut self, other: PartialConfig) {
        take_set!(
            self,
            other,
            data_dir,
            bind_addr,
            region,
            datacenter,
            name,
            log_level,
            http_port,
            rpc_port,
            serf_port,
            advertise_rpc,
            server_enabled,
            bootstrap_expect,
            retry_join,
            retry_interval,
            raft_multiplier,
            raft_snapshot_threshold,
            heartbeat_grace,
            min_heartbeat_ttl,
            client_enabled,
            servers,
            node_class,
            node_pool,
            chroot_env,
            gc_interval,
            gc_max_allocs,
            gc_disk_usage_threshold,
            drain_on_shutdown
        );
        self.meta.extend(other.meta);
        self.host_volumes.extend(other.host_volumes);
        self.plugins.extend(other.plugins);
    }

    /// Fills in Nomad's defaults for everything still unset.
    pub fn resolve(self) -> AgentConfig {
        let hostname = sysinfo::System::host_name().unwrap_or_else(|_| "rove".into());
        AgentConfig {
            data_dir: self.data_dir,
            bind_addr: self.bind_addr.unwrap_or_else(|| "0.0.0.0".into()),
            region: self.region.unwrap_or_else(|| "global".into()),
            datacenter: self.datacenter.unwrap_or_else(|| "dc1".into()),
            name: self.name.unwrap_or(hostname),
            log_level: self.log_level.unwrap_or_else(|| "INFO".into()),
            ports: Ports {
                http: self.http_port.unwrap_or(4646),
                rpc: self.rpc_port.unwrap_or(4647),
                serf: self.serf_port.unwrap_or(4648),
            },
            advertise_rpc: self.advertise_rpc,
            server: ServerSection {
                enabled: self.server_enabled.unwrap_or(false),
                bootstrap_expect: self.bootstrap_expect.unwrap_or(0),
                retry_join: self
                    .retry_join
                    .unwrap_or_default()
                    .into_iter()
                    .map(|a| with_default_port(a, 4647))
                    .collect(),
                retry_interval: self.retry_interval.unwrap_or(Duration::from_secs(30)),
                raft_multiplier: self.raft_multiplier.unwrap_or(1),
                raft_snapshot_threshold: self.raft_snapshot_threshold.unwrap_or(8192).max(1),
                heartbeat_grace: self.heartbeat_grace.unwrap_or(Duration::from_secs(10)),
                min_heartbeat_ttl: self.min_heartbeat_ttl.unwrap_or(Duration::from_secs(10)),
            },
            client: ClientSection {
                enabled: self.client_enabled.unwrap_or(false),
                servers: self.servers.unwrap_or_default(),
                node_class: self.node_class.unwrap_or_default(),
                node_pool: self.node_pool.unwrap_or_else(|| "default".into()),
                meta: self.meta,
                chroot_env: self.chroot_env,
                host_volumes: self.host_volumes,
                drain_on_shutdown: self.drain_on_shutdown.unwrap_or(false),
                gc: {
                    let defaults = crate::client::gc::GcConfig::default();
                    crate::client::gc::GcConfig {
                        interval: self.gc_interval.unwrap_or(defaults.interval),
                        max_allocs: self.gc_max_allocs.unwrap_or(defaults.max_allocs),
                        disk_usage_threshold: self.gc_disk_usage_threshold.unwrap_or(defaults.disk_usage_threshold),
                    }
                },
            },
            plugins: self.plugins,
        }
    }
}

/// `host` alone gets `port`; `host:port` and `[v6]:port` stay as they are.
fn with_default_port(addr: String, port: u16) -> String {
    let has_port = match addr.rsplit_once(':') {
        Some((host, p)) => p.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']')),
        None => false,
    };
    if has_port {
        addr
    } else {
        format!("{addr}:{port}")
    }
}

#[cfg(test)]
mod tests;
