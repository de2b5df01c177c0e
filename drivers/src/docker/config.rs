//! The docker driver's task `config` block, with the names and meanings of Nomad's docker
//! driver. Parsing is strict: an unknown key is an error naming it. Blocks may arrive as
//! objects or, as job files decode them, as lists of objects.

use crate::DriverError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

const KEYS: &[&str] = &[
    "image",
    "command",
    "args",
    "entrypoint",
    "work_dir",
    "ports",
    "volumes",
    "mount",
    "labels",
    "network_mode",
    "privileged",
    "force_pull",
    "auth",
    "load",
];

/// A docker task's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerConfig {
    pub image: String,
    pub command: Option<String>,
    pub args: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub work_dir: Option<String>,
    pub ports: Vec<String>,
    pub volumes: Vec<Volume>,
    pub mounts: Vec<Mount>,
    pub labels: BTreeMap<String, String>,
    pub network_mode: Option<String>,
    pub privileged: bool,
    pub force_pull: bool,
    pub auth: Option<Auth>,
    pub load: Option<String>,
}

/// A `volumes` entry: `host:container[:ro]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub host: String,
    pub container: String,
    pub read_only: bool,
}

/// The kind of a `mount` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    Bind,
    Volume,
    Tmpfs,
}

/// A `mount` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub kind: MountType,
    pub target: String,
    pub source: String,
    pub readonly: bool,
}

/// Registry credentials for pulling the image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Auth {
    pub username: String,
    pub password: String,
    pub server_address: String,
}

fn err(message: String) -> DriverError {
    DriverError::Config(message)
}

impl DockerConfig {
    pub fn parse(config: &Value) -> Result<DockerConfig, DriverError> {
        let map = config.as_object().ok_or_else(|| err("expected a block of settings".into()))?;
        if let Some(unknown) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(err(format!("unknown setting {unknown:?} for the docker driver")));
        }
        let image = string(map, "image")?.filter(|i| !i.is_empty());
        let image = image.ok_or_else(|| err("missing required field \"image\"".into()))?;
        let volumes = strings(map, "volumes")?.iter().map(|v| Volume::parse(v)).collect::<Result<_, _>>()?;
        let mounts = blocks(map, "mount")?.into_iter().map(Mount::parse).collect::<Result<_, _>>()?;
        let labels = blocks(map, "labels")?
            .into_iter()
            .flatten()
            .map(|(k, v)| Ok((k.clone(), text(&v).ok_or_else(|| err(format!("label {k:?} must be a string")))?)))
            .collect::<Result<_, DriverError>>()?;
        let auth = match blocks(map, "auth")?.as_slice() {
            [] => None,
            [one] => Some(Auth::parse(one)?),
            _ => return Err(err("\"auth\" may be given once".into())),
        };
        Ok(DockerConfig {
            image,
            command: string(map, "command")?,
            args: strings(map, "args")?,
            entrypoint: map.contains_key("entrypoint").then(|| strings(map, "entrypoint")).transpose()?,
            work_dir: string(map, "work_dir")?,
            ports: strings(map, "ports")?,
            volumes,
            mounts,
            labels,
            network_mode: string(map, "network_mode")?,
            privileged: boolean(map, "privileged")?,
            force_pull: boolean(map, "force_pull")?,
            auth,
            load: string(map, "load")?,
        })
    }
}

impl Volume {
    fn parse(spec: &str) -> Result<Volume, DriverError> {
        let bad = || err(format!("volume {spec:?}: expected \"host:container\" or \"host:container:ro\""));
        let parts: Vec<&str> = spec.split(':').collect();
        let (host, container, read_only) = match parts.as_slice() {
            [host, container] => (host, container, false),
            [host, container, "ro"] => (host, container, true),
            [host, container, "rw"] => (host, container, false),
            _ => return Err(bad()),
        };
        if host.is_empty() || !container.starts_with('/') {
            return Err(bad());
        }
        Ok(Volume { host: host.to_string(), container: container.to_string(), read_only })
    }
}

impl Mount {
    fn parse(block: Map<String, Value>) -> Result<Mount, DriverError> {
        if let Some(unknown) = block.keys().find(|k| !matches!(k.as_str(), "type" | "target" | "source" | "readonly")) {
            return Err(err(format!("unknown setting {unknown:?} in a mount block")));
        }
        let kind = match string(&block, "type")?.as_deref() {
            None | Some("volume") => MountType::Volume,
            Some("bind") => MountType::Bind,
            Some("tmpfs") => MountType::Tmpfs,
            Some(other) => return Err(err(format!("mount type {other:?}: expected bind, volume or tmpfs"))),
        };
        let target = string(&block, "target")?.ok_or_else(|| err("a mount block needs a \"target\"".into()))?;
        let source = string(&block, "source")?.unwrap_or_default();
        if source.is_empty() && kind == MountType::Bind {
            return Err(err(format!("bind mount at {target:?} needs a \"source\"")));
        }
        Ok(Mount { kind, target, source, readonly: boolean(&block, "readonly")? })
    }
}

impl Auth {
    fn parse(block: &Map<String, Value>) -> Result<Auth, DriverError> {
        let keys = ["username", "password", "server_address"];
        if let Some(unknown) = block.keys().find(|k| !keys.contains(&k.as_str())) {
            return Err(err(format!("unknown setting {unknown:?} in the auth block")));
        }
        Ok(Auth {
            username: string(block, "username")?.unwrap_or_default(),
            password: string(block, "password")?.unwrap_or_default(),
            server_address: string(block, "server_address")?.unwrap_or_default(),
        })
    }
}

/// A string, or a number or bool written where a string is expected.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn string(map: &Map<String, Value>, key: &str) -> Result<Option<String>, DriverError> {
    map.get(key).map(|v| text(v).ok_or_else(|| err(format!("{key:?} must be a string, got {v}")))).transpose()
}

fn strings(map: &Map<String, Value>, key: &str) -> Result<Vec<String>, DriverError> {
    match map.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| text(v).ok_or_else(|| err(format!("{key:?} must be a list of strings, got {v}"))))
            .collect(),
        Some(other) => Err(err(format!("{key:?} must be a list of strings, got {other}"))),
    }
}

fn boolean(map: &Map<String, Value>, key: &str) -> Result<bool, DriverError> {
    match map.get(key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
        Some(other) => Err(err(format!("{key:?} must be true or false, got {other}"))),
    }
}

/// A block given as an object, or as the list of objects job files decode blocks into.
fn blocks(map: &Map<String, Value>, key: &str) -> Result<Vec<Map<String, Value>>, DriverError> {
    let not_block = |v: &Value| err(format!("{key:?} must be a block, got {v}"));
    match map.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Object(o)) => Ok(vec![o.clone()]),
        Some(Value::Array(items)) => items.iter().map(|v| v.as_object().cloned().ok_or_else(|| not_block(v))).collect(),
        Some(other) => Err(not_block(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_nomad_shaped_config() {
        let config = DockerConfig::parse(&json!({
            "image": "redis:7",
            "args": ["--port", 6380],
            "ports": ["db"],
            "volumes": ["data:/data", "/etc/hosts:/etc/hosts:ro"],
            "mount": [{ "type": "tmpfs", "target": "/scratch" }, { "type": "bind", "source": "x", "target": "/x", "readonly": true }],
            "labels": [{ "team": "core" }],
            "auth": [{ "username": "u", "password": "p" }],
            "force_pull": "true",
        }))
        .unwrap();
        assert_eq!(config.args, ["--port", "6380"]);
        assert_eq!(
            config.volumes[1],
            Volume { host: "/etc/hosts".into(), container: "/etc/hosts".into(), read_only: true }
        );
        assert_eq!(config.mounts[0].kind, MountType::Tmpfs);
        assert!(config.mounts[1].readonly);
        assert_eq!(config.labels["team"], "core");
        assert_eq!(config.auth.unwrap().username, "u");
        assert!(config.force_pull && !config.privileged);
        assert_eq!(config.entrypoint, None);
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        let message = |v: Value| DockerConfig::parse(&v).unwrap_err().to_string();
        assert_eq!(
            message(json!({ "image": "a", "imagee": "b" })),
            "config: unknown setting \"imagee\" for the docker driver"
        );
        assert_eq!(message(json!({ "command": "x" })), "config: missing required field \"image\"");
        assert!(message(json!({ "image": "a", "volumes": ["nocolon"] })).contains("volume \"nocolon\""));
        assert!(message(json!({ "image": "a", "mount": { "type": "nfs", "target": "/x" } })).contains("\"nfs\""));
        assert!(message(json!({ "image": "a", "mount": { "target": "/x", "size": 1 } })).contains("\"size\""));
        assert!(message(json!({ "image": "a", "privileged": 1 })).contains("true or false"));
    }
}
