//! Agent config tests: the shipped examples, merging, directories and errors.

use super::file::parse;
use super::*;
use std::path::Path;

fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs")
}

#[test]
fn shipped_examples_parse() {
    let dev = load_path(&configs_dir().join("dev.hcl")).unwrap().resolve();
    assert!(dev.server.enabled && dev.client.enabled && dev.raw_exec_enabled());
    let server = load_path(&configs_dir().join("server.hcl")).unwrap().resolve();
    assert_eq!(server.server.bootstrap_expect, 3);
    assert_eq!(server.server.retry_join, ["10.0.0.11:4647", "10.0.0.12:4647", "10.0.0.13:4647"]);
    assert_eq!(server.server.retry_interval, Duration::from_secs(15));
    assert_eq!(server.server.raft_multiplier, 1);
    assert_eq!(server.advertise_rpc.as_deref(), Some("10.0.0.11:4647"));
    assert_eq!(server.server.heartbeat_grace, Duration::from_secs(10));
    assert!(!server.client.enabled);
    let client = load_path(&configs_dir().join("client.hcl")).unwrap().resolve();
    assert_eq!(client.client.servers, ["127.0.0.1:4647"]);
    assert_eq!(client.client.node_class, "edge");
    assert_eq!(client.client.meta["rack"], "r1");
    assert!(!client.raw_exec_enabled());
}

#[test]
fn chroot_env_replaces_the_default_set() {
    assert_eq!(parse("client { enabled = true }", Path::new("a.hcl")).unwrap().resolve().client.chroot_env, None);
    let src = "client {\n  chroot_env = {\n    \"/usr\" = \"/usr\"\n    \"/opt/jdk\" = \"/jdk\"\n  }\n}";
    let config = parse(src, Path::new("a.hcl")).unwrap().resolve();
    let expected = [("/opt/jdk", "/jdk"), ("/usr", "/usr")].map(|(h, i)| (h.to_string(), i.to_string()));
    assert_eq!(config.client.chroot_env, Some(expected.into()));
}

#[test]
fn later_sources_win_only_for_what_they_set() {
    let mut merged = PartialConfig::dev();
    merged.merge(parse("region = \"eu\"\nports { http = 5646 }", Path::new("a.hcl")).unwrap());
    merged.merge(parse("datacenter = \"edge-1\"\nports { rpc = 5647 }", Path::new("b.hcl")).unwrap());
    let config = merged.resolve();
    assert_eq!(config.region, "eu");
    assert_eq!(config.datacenter, "edge-1");
    assert_eq!(config.ports, Ports { http: 5646, rpc: 5647, serf: 4648 });
    assert_eq!(config.bind_addr, "127.0.0.1", "dev's bind address survives");
    assert!(config.raw_exec_enabled());
}

#[test]
fn docker_plugin_options() {
    let config = PartialConfig::dev().resolve();
    assert_eq!(config.docker_options(), rove_drivers::DockerOptions::default());
    let hcl =
        "plugin \"docker\" {\n  config {\n    endpoint = \"unix:///run/d.sock\"\n    allow_privileged = true\n    volumes {\n      enabled = true\n    }\n  }\n}";
    let mut merged = PartialConfig::default();
    merged.merge(parse(hcl, Path::new("d.hcl")).unwrap());
    let options = merged.resolve().docker_options();
    assert_eq!(options.endpoint, "unix:///run/d.sock");
    assert!(options.allow_privileged && options.volumes_enabled);
}

#[test]
fn directories_load_in_name_order() {
    let dir = std::env::temp_dir().join(format!("rove-config-{}", crate::structs::generate_id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("10-base.hcl"), "region = \"one\"\nname = \"base\"").unwrap();
    std::fs::write(dir.join("20-override.hcl"), "region = \"two\"").unwrap();
    std::fs::write(dir.join("notes.txt"), "not config").unwrap();
    let config = load_path(&dir).unwrap().resolve();
    assert_eq!(config.region, "two");
    assert_eq!(config.name, "base");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn mistakes_are_named_with_suggestions_and_positions() {
    let err = parse("server {\n  enabeld = true\n}", Path::new("s.hcl")).unwrap_err().to_string();
    assert!(err.contains("s.hcl: server: unknown attribute \"enabeld\" (did you mean \"enabled\"?)"), "{err}");
    let err = parse("ports {\n  http = \"x\"\n}", Path::new("p.hcl")).unwrap_err().to_string();
    assert!(err.contains("ports: http: expected a non-negative whole number, got string \"x\""), "{err}");
    let err = parse("region = = 1", Path::new("r.hcl")).unwrap_err().to_string();
    assert!(err.starts_with("r.hcl:1:"), "{err}");
    let err = parse("log_level = \"LOUD\"", Path::new("l.hcl")).unwrap_err().to_string();
    assert!(err.contains("log_level: \"LOUD\" is not a level"), "{err}");
}

#[test]
fn server_join_addresses_get_the_rpc_port_and_bad_raft_settings_are_named() {
    let src = "server {\n  enabled = true\n  server_join {\n    retry_join = [\"a.example\", \"b.example:5000\", \"[fd00::1]\", \"[fd00::2]:6000\"]\n  }\n}\n";
    let config = super::file::parse(src, std::path::Path::new("join.hcl")).unwrap().resolve();
    assert_eq!(config.server.retry_join, ["a.example:4647", "b.example:5000", "[fd00::1]:4647", "[fd00::2]:6000"]);
    assert_eq!(config.server.retry_interval, Duration::from_secs(30), "Nomad's default");

    let bad = "server {\n  raft_multiplier = 20\n}\n";
    let err = super::file::parse(bad, std::path::Path::new("bad.hcl")).unwrap_err().to_string();
    assert!(err.contains("bad.hcl") && err.contains("raft_multiplier"), "{err}");
}

#[test]
fn host_volumes_are_read_and_bad_ones_named() {
    let src = "client {\n  host_volume \"data\" {\n    path = \"/srv/data\"\n    read_only = true\n  }\n}\n";
    let config = super::file::parse(src, std::path::Path::new("vol.hcl")).unwrap().resolve();
    let volume = &config.client.host_volumes["data"];
    assert_eq!((volume.path.as_str(), volume.read_only), ("/srv/data", true));

    let relative = "client {\n  host_volume \"data\" {\n    path = \"srv/data\"\n  }\n}\n";
    let err = super::file::parse(relative, std::path::Path::new("vol.hcl")).unwrap_err().to_string();
    assert!(err.contains("vol.hcl") && err.contains("absolute path"), "{err}");
    let unnamed = "client {\n  host_volume {\n    path = \"/srv\"\n  }\n}\n";
    let err = super::file::parse(unnamed, std::path::Path::new("vol.hcl")).unwrap_err().to_string();
    assert!(err.contains("host_volume block needs its name"), "{err}");
}
