//! The `network` block (mode, ports, DNS) and `service` blocks with their checks.

use super::blocks::one_of;
use super::{last_onto, one_label, schema, Decoder, Scope};
use crate::structs::{CheckRestart, DnsConfig, NetworkResource, Port, Service, ServiceCheck};
use std::time::Duration;

const NETWORK: super::Schema = schema(&["mode", "mbits"], &["port", "dns"]);
const PORT: super::Schema = schema(&["static", "to", "host_network"], &[]);
const DNS: super::Schema = schema(&["servers", "searches", "options"], &[]);

pub fn network(d: &mut Decoder, scope: &Scope) -> NetworkResource {
    d.check(scope, &NETWORK);
    let mut net = NetworkResource {
        mode: d.string(scope, "mode").unwrap_or_else(|| "host".into()),
        mbits: d.uint(scope, "mbits").unwrap_or(0),
        ..NetworkResource::default()
    };
    if !["host", "bridge", "none"].contains(&net.mode.as_str()) && !net.mode.starts_with("cni/") {
        d.problem(scope, format!("mode: {:?} must be host, bridge, none or cni/<name>", net.mode));
    }
    for block in scope.blocks("port") {
        let Some(label) = one_label(d, scope, block) else { continue };
        let port_scope = scope.child(block);
        d.check(&port_scope, &PORT);
        let port = Port {
            label,
            value: d.uint(&port_scope, "static").unwrap_or(0),
            to: d.int(&port_scope, "to").and_then(|v| i32::try_from(v).ok()).unwrap_or(0),
            host_network: d.string(&port_scope, "host_network").unwrap_or_else(|| "default".into()),
        };
        let taken = net.reserved_ports.iter().chain(&net.dynamic_ports).any(|p| p.label == port.label);
        if taken {
            d.problem(&port_scope, "port label is declared more than once");
        }
        if port.value > 0 {
            net.reserved_ports.push(port);
        } else {
            net.dynamic_ports.push(port);
        }
    }
    net.dns = last_onto(d, scope, "dns", DnsConfig::default(), |d, s, base| {
        d.check(s, &DNS);
        DnsConfig {
            servers: d.strings(s, "servers").unwrap_or(base.servers),
            searches: d.strings(s, "searches").unwrap_or(base.searches),
            options: d.strings(s, "options").unwrap_or(base.options),
        }
    });
    net
}

const SERVICE: super::Schema = schema(
    &[
        "name",
        "port",
        "tags",
        "canary_tags",
        "enable_tag_override",
        "address_mode",
        "address",
        "task",
        "provider",
        "on_update",
    ],
    &["check", "check_restart", "meta", "canary_meta"],
);

pub fn service(d: &mut Decoder, scope: &Scope) -> Service {
    d.check(scope, &SERVICE);
    let mut s = Service {
        name: d.string(scope, "name").unwrap_or_default(),
        port_label: d.string(scope, "port").unwrap_or_default(),
        tags: d.strings(scope, "tags").unwrap_or_default(),
        canary_tags: d.strings(scope, "canary_tags").unwrap_or_default(),
        enable_tag_override: d.boolean(scope, "enable_tag_override").unwrap_or(false),
        address_mode: d.string(scope, "address_mode").unwrap_or_else(|| "auto".into()),
        address: d.string(scope, "address").unwrap_or_default(),
        task_name: d.string(scope, "task").unwrap_or_default(),
        provider: d.string(scope, "provider").unwrap_or_else(|| "consul".into()),
        on_update: d.string(scope, "on_update").unwrap_or_else(|| "require_healthy".into()),
        ..Service::default()
    };
    one_of(d, scope, "provider", &s.provider, &["consul", "nomad"]);
    for meta in scope.blocks("meta") {
        s.meta.extend(d.string_map(&scope.child(meta)));
    }
    for meta in scope.blocks("canary_meta") {
        s.canary_meta.extend(d.string_map(&scope.child(meta)));
    }
    s.check_restart = last_onto(d, scope, "check_restart", CheckRestart::default(), check_restart);
    s.checks = scope.blocks("check").map(|b| check(d, &scope.child(b), &s.check_restart)).collect();
    s
}

const CHECK: super::Schema = schema(
    &[
        "name",
        "type",
        "command",
        "args",
        "path",
        "protocol",
        "port",
        "address_mode",
        "interval",
        "timeout",
        "initial_status",
        "method",
        "body",
        "tls_skip_verify",
        "grpc_service",
        "grpc_use_tls",
        "task",
        "expose",
        "on_update",
        "success_before_passing",
        "failures_before_critical",
    ],
    &["check_restart", "header"],
);

fn check(d: &mut Decoder, scope: &Scope, service_restart: &Option<CheckRestart>) -> ServiceCheck {
    d.check(scope, &CHECK);
    let mut c = ServiceCheck {
        name: d.string(scope, "name").unwrap_or_default(),
        check_type: d.string(scope, "type").unwrap_or_default(),
        command: d.string(scope, "command").unwrap_or_default(),
        args: d.strings(scope, "args").unwrap_or_default(),
        path: d.string(scope, "path").unwrap_or_default(),
        protocol: d.string(scope, "protocol").unwrap_or_default(),
        port_label: d.string(scope, "port").unwrap_or_default(),
        address_mode: d.string(scope, "address_mode").unwrap_or_else(|| "host".into()),
        interval: d.duration(scope, "interval").unwrap_or_default(),
        timeout: d.duration(scope, "timeout").unwrap_or_default(),
        initial_status: d.string(scope, "initial_status").unwrap_or_default(),
        method: d.string(scope, "method").unwrap_or_default(),
        body: d.string(scope, "body").unwrap_or_default(),
        tls_skip_verify: d.boolean(scope, "tls_skip_verify").unwrap_or(false),
        grpc_service: d.string(scope, "grpc_service").unwrap_or_default(),
        grpc_use_tls: d.boolean(scope, "grpc_use_tls").unwrap_or(false),
        task_name: d.string(scope, "task").unwrap_or_default(),
        expose: d.boolean(scope, "expose").unwrap_or(false),
        on_update: d.string(scope, "on_update").unwrap_or_else(|| "require_healthy".into()),
        success_before_passing: d.uint(scope, "success_before_passing").unwrap_or(0),
        failures_before_critical: d.uint(scope, "failures_before_critical").unwrap_or(0),
        header: Default::default(),
        check_restart: None,
    };
    for header in scope.blocks("header") {
        let header = scope.child(header);
        for attr in header.body.attributes() {
            match d.strings(&header, attr.key.as_str()) {
                Some(values) => {
                    c.header.insert(attr.key.to_string(), values);
                }
                None => continue,
            }
        }
    }
    let base = service_restart.clone().unwrap_or_default();
    c.check_restart = last_onto(d, scope, "check_restart", base, check_restart).or_else(|| service_restart.clone());
    match c.check_type.as_str() {
        "http" | "tcp" | "grpc" => {
            if c.interval.is_zero() || c.timeout.is_zero() {
                d.problem(scope, "interval and timeout are required");
            }
        }
        "script" if c.command.is_empty() => d.problem(scope, "a script check needs command"),
        "script" => {}
        "" => d.problem(scope, "type is required (http, tcp, grpc or script)"),
        other => d.problem(scope, format!("type: {other:?} must be http, tcp, grpc or script")),
    }
    if c.check_type == "http" && c.path.is_empty() {
        d.problem(scope, "an http check needs path");
    }
    if !c.interval.is_zero() && c.interval < Duration::from_secs(1) {
        d.problem(scope, format!("interval must be at least 1s, got {:?}", c.interval));
    }
    c
}

const CHECK_RESTART: super::Schema = schema(&["limit", "grace", "ignore_warnings"], &[]);

fn check_restart(d: &mut Decoder, scope: &Scope, base: CheckRestart) -> CheckRestart {
    d.check(scope, &CHECK_RESTART);
    CheckRestart {
        limit: d.uint(scope, "limit").unwrap_or(base.limit),
        grace: d.duration(scope, "grace").unwrap_or(base.grace),
        ignore_warnings: d.boolean(scope, "ignore_warnings").unwrap_or(base.ignore_warnings),
    }
}
