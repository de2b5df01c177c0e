//! The small blocks shared across levels: placement rules, update/migrate/reschedule
//! strategies, restart, disks, volumes, resources, logs, artifacts, templates, lifecycle.
//! Functions taking a `base` decode onto it, so unset attributes keep the inherited value.

use super::{schema, Decoder, Scope};
use crate::structs::{
    Affinity, Constraint, DisconnectStrategy, DispatchPayloadConfig, EphemeralDisk, LogConfig, MigrateStrategy,
    ParameterizedJobConfig, PeriodicConfig, ReschedulePolicy, Resources, RestartMode, RestartPolicy, ScalingPolicy,
    Spread, SpreadTarget, TaskArtifact, TaskLifecycle, Template, UpdateStrategy, VolumeMount, VolumeRequest,
};

/// Constraint operators Nomad accepts.
const OPERATORS: &[&str] = &[
    "=",
    "==",
    "is",
    "!=",
    "not",
    ">",
    ">=",
    "<",
    "<=",
    "regexp",
    "set_contains",
    "set_contains_all",
    "set_contains_any",
    "version",
    "semver",
    "is_set",
    "is_not_set",
    "distinct_hosts",
    "distinct_property",
];

/// Reports `value` unless it is one of `allowed` (an empty value passes when `""` is).
pub fn one_of(d: &mut Decoder, scope: &Scope, field: &str, value: &str, allowed: &[&str]) {
    if !allowed.contains(&value) {
        let names: Vec<&str> = allowed.iter().copied().filter(|a| !a.is_empty()).collect();
        let (last, rest) = names.split_last().map_or(("", &[][..]), |(l, r)| (*l, r));
        d.problem(scope, format!("{field}: {value:?} must be {} or {last}", rest.join(", ")));
    }
}

const CONSTRAINT: super::Schema = schema(
    &[
        "attribute",
        "operator",
        "value",
        "distinct_hosts",
        "distinct_property",
        "version",
        "regexp",
        "set_contains",
        "set_contains_any",
        "set_contains_all",
        "semver",
    ],
    &[],
);

fn operator(d: &mut Decoder, scope: &Scope) -> String {
    let op = d.string(scope, "operator").unwrap_or_else(|| "=".into());
    if !OPERATORS.contains(&op.as_str()) {
        let hint = super::super::suggest::hint(&op, OPERATORS);
        d.problem(scope, format!("operator: {op:?} is not a constraint operator{hint}"));
    }
    op
}

pub fn constraint(d: &mut Decoder, scope: &Scope) -> Constraint {
    d.check(scope, &CONSTRAINT);
    let mut c = Constraint {
        l_target: d.string(scope, "attribute").unwrap_or_default(),
        r_target: d.string(scope, "value").unwrap_or_default(),
        operand: operator(d, scope),
    };
    // Shorthands: `distinct_hosts = true`, `distinct_property = "${meta.rack}"`,
    // `version = ">= 1.2"`, `regexp = "..."`, `set_contains = "a,b"`, ...
    if d.boolean(scope, "distinct_hosts") == Some(true) {
        c.operand = "distinct_hosts".into();
    }
    if let Some(property) = d.string(scope, "distinct_property") {
        c.operand = "distinct_property".into();
        c.l_target = property;
    }
    for op in ["version", "semver", "regexp", "set_contains", "set_contains_any", "set_contains_all"] {
        if let Some(value) = d.string(scope, op) {
            c.operand = op.into();
            c.r_target = value;
        }
    }
    c
}

const AFFINITY: super::Schema = schema(&["attribute", "operator", "value", "weight"], &[]);

pub fn affinity(d: &mut Decoder, scope: &Scope) -> Affinity {
    d.check(scope, &AFFINITY);
    let weight = d.int(scope, "weight").unwrap_or(50);
    if !(-100..=100).contains(&weight) || weight == 0 {
        d.problem(scope, format!("weight must be between -100 and 100 and not 0, got {weight}"));
    }
    Affinity {
        l_target: d.string(scope, "attribute").unwrap_or_default(),
        r_target: d.string(scope, "value").unwrap_or_default(),
        operand: operator(d, scope),
        weight: weight.clamp(-100, 100) as i8,
    }
}

const SPREAD: super::Schema = schema(&["attribute", "weight"], &["target"]);
const TARGET: super::Schema = schema(&["value", "percent"], &[]);

pub fn spread(d: &mut Decoder, scope: &Scope) -> Spread {
    d.check(scope, &SPREAD);
    let weight = d.int(scope, "weight").unwrap_or(50);
    if !(0..=100).contains(&weight) {
        d.problem(scope, format!("weight must be between 0 and 100, got {weight}"));
    }
    let targets = scope
        .blocks("target")
        .map(|block| {
            let target = scope.child(block);
            d.check(&target, &TARGET);
            let value = block.labels.first().map(|l| l.as_str().to_string());
            SpreadTarget {
                value: d.string(&target, "value").or(value).unwrap_or_default(),
                percent: d.uint(&target, "percent").unwrap_or(0),
            }
        })
        .collect::<Vec<_>>();
    let total: u32 = targets.iter().map(|t| u32::from(t.percent)).sum();
    if total > 100 {
        d.problem(scope, format!("target percentages add up to {total}, more than 100"));
    }
    Spread {
        attribute: d.string(scope, "attribute").unwrap_or_default(),
        weight: weight.clamp(0, 100) as i8,
        spread_target: targets,
    }
}

const UPDATE: super::Schema = schema(
    &[
        "stagger",
        "max_parallel",
        "health_check",
        "min_healthy_time",
        "healthy_deadline",
        "progress_deadline",
        "auto_revert",
        "auto_promote",
        "canary",
    ],
    &[],
);

pub fn update(d: &mut Decoder, scope: &Scope, base: UpdateStrategy) -> UpdateStrategy {
    d.check(scope, &UPDATE);
    let u = UpdateStrategy {
        stagger: d.duration(scope, "stagger").unwrap_or(base.stagger),
        max_parallel: d.uint(scope, "max_parallel").unwrap_or(base.max_parallel),
        health_check: d.string(scope, "health_check").unwrap_or(base.health_check),
        min_healthy_time: d.duration(scope, "min_healthy_time").unwrap_or(base.min_healthy_time),
        healthy_deadline: d.duration(scope, "healthy_deadline").unwrap_or(base.healthy_deadline),
        progress_deadline: d.duration(scope, "progress_deadline").unwrap_or(base.progress_deadline),
        auto_revert: d.boolean(scope, "auto_revert").unwrap_or(base.auto_revert),
        auto_promote: d.boolean(scope, "auto_promote").unwrap_or(base.auto_promote),
        canary: d.uint(scope, "canary").unwrap_or(base.canary),
    };
    check_health_check(d, scope, &u.health_check);
    u
}

fn check_health_check(d: &mut Decoder, scope: &Scope, value: &str) {
    one_of(d, scope, "health_check", value, &["checks", "task_states", "manual"]);
}

const MIGRATE: super::Schema = schema(&["max_parallel", "health_check", "min_healthy_time", "healthy_deadline"], &[]);

pub fn migrate(d: &mut Decoder, scope: &Scope, base: MigrateStrategy) -> MigrateStrategy {
    d.check(scope, &MIGRATE);
    let m = MigrateStrategy {
        max_parallel: d.uint(scope, "max_parallel").unwrap_or(base.max_parallel),
        health_check: d.string(scope, "health_check").unwrap_or(base.health_check),
        min_healthy_time: d.duration(scope, "min_healthy_time").unwrap_or(base.min_healthy_time),
        healthy_deadline: d.duration(scope, "healthy_deadline").unwrap_or(base.healthy_deadline),
    };
    check_health_check(d, scope, &m.health_check);
    m
}

const RESCHEDULE: super::Schema =
    schema(&["attempts", "interval", "delay", "delay_function", "max_delay", "unlimited"], &[]);

pub fn reschedule(d: &mut Decoder, scope: &Scope, base: ReschedulePolicy) -> ReschedulePolicy {
    d.check(scope, &RESCHEDULE);
    let r = ReschedulePolicy {
        attempts: d.uint(scope, "attempts").unwrap_or(base.attempts),
        interval: d.duration(scope, "interval").unwrap_or(base.interval),
        delay: d.duration(scope, "delay").unwrap_or(base.delay),
        delay_function: d.string(scope, "delay_function").unwrap_or(base.delay_function),
        max_delay: d.duration(scope, "max_delay").unwrap_or(base.max_delay),
        unlimited: d.boolean(scope, "unlimited").unwrap_or(base.unlimited),
    };
    one_of(d, scope, "delay_function", &r.delay_function, &["constant", "exponential", "fibonacci"]);
    r
}

const RESTART: super::Schema = schema(&["attempts", "interval", "delay", "mode", "render_templates"], &[]);

pub fn restart(d: &mut Decoder, scope: &Scope, base: RestartPolicy) -> RestartPolicy {
    d.check(scope, &RESTART);
    let mode = match d.string(scope, "mode").as_deref() {
        None => base.mode,
        Some("fail") => RestartMode::Fail,
        Some("delay") => RestartMode::Delay,
        Some(other) => {
            d.problem(scope, format!("mode: {other:?} is not a restart mode (fail, delay)"));
            base.mode
        }
    };
    if d.boolean(scope, "render_templates") == Some(true) {
        d.problem(scope, "render_templates is not supported by rove yet");
    }
    RestartPolicy {
        attempts: d.uint(scope, "attempts").unwrap_or(base.attempts),
        interval: d.duration(scope, "interval").unwrap_or(base.interval),
        delay: d.duration(scope, "delay").unwrap_or(base.delay),
        mode,
    }
}

const PERIODIC: super::Schema = schema(&["cron", "crons", "prohibit_overlap", "time_zone", "enabled"], &[]);

pub fn periodic(d: &mut Decoder, scope: &Scope, base: PeriodicConfig) -> PeriodicConfig {
    d.check(scope, &PERIODIC);
    let p = PeriodicConfig {
        enabled: d.boolean(scope, "enabled").unwrap_or(base.enabled),
        spec: d.string(scope, "cron").unwrap_or(base.spec),
        specs: d.strings(scope, "crons").unwrap_or(base.specs),
        spec_type: base.spec_type,
        prohibit_overlap: d.boolean(scope, "prohibit_overlap").unwrap_or(base.prohibit_overlap),
        time_zone: d.string(scope, "time_zone").unwrap_or(base.time_zone),
    };
    if p.spec.is_empty() && p.specs.is_empty() {
        d.problem(scope, "a periodic job needs `cron` or `crons`");
    }
    p
}

const PARAMETERIZED: super::Schema = schema(&["payload", "meta_required", "meta_optional"], &[]);

pub fn parameterized(d: &mut Decoder, scope: &Scope, base: ParameterizedJobConfig) -> ParameterizedJobConfig {
    d.check(scope, &PARAMETERIZED);
    let p = ParameterizedJobConfig {
        payload: d.string(scope, "payload").unwrap_or(base.payload),
        meta_required: d.strings(scope, "meta_required").unwrap_or(base.meta_required),
        meta_optional: d.strings(scope, "meta_optional").unwrap_or(base.meta_optional),
    };
    one_of(d, scope, "payload", &p.payload, &["optional", "required", "forbidden"]);
    p
}

const DISK: super::Schema = schema(&["size", "migrate", "sticky"], &[]);

pub fn ephemeral_disk(d: &mut Decoder, scope: &Scope, base: EphemeralDisk) -> EphemeralDisk {
    d.check(scope, &DISK);
    EphemeralDisk {
        size_mb: d.uint(scope, "size").unwrap_or(base.size_mb),
        sticky: d.boolean(scope, "sticky").unwrap_or(base.sticky),
        migrate: d.boolean(scope, "migrate").unwrap_or(base.migrate),
    }
}

const DISCONNECT: super::Schema = schema(&["lost_after", "replace", "reconcile", "stop_on_client_after"], &[]);

pub fn disconnect(d: &mut Decoder, scope: &Scope, base: DisconnectStrategy) -> DisconnectStrategy {
    d.check(scope, &DISCONNECT);
    let s = DisconnectStrategy {
        lost_after: d.duration(scope, "lost_after").unwrap_or(base.lost_after),
        replace: d.boolean(scope, "replace").or(base.replace),
        reconcile: d.string(scope, "reconcile").unwrap_or(base.reconcile),
        stop_on_client_after: d.duration(scope, "stop_on_client_after").unwrap_or(base.stop_on_client_after),
    };
    one_of(d, scope, "reconcile", &s.reconcile, &["", "best_score", "keep_original", "keep_replacement"]);
    s
}

const SCALING: super::Schema = schema(&["min", "max", "enabled"], &["policy"]);

pub fn scaling(d: &mut Decoder, scope: &Scope, base: ScalingPolicy) -> ScalingPolicy {
    d.check(scope, &SCALING);
    let mut s = ScalingPolicy {
        min: d.int(scope, "min").or(base.min),
        max: d.int(scope, "max").or(base.max),
        enabled: d.boolean(scope, "enabled").unwrap_or(true),
        policy: base.policy,
    };
    for policy in scope.blocks("policy") {
        s.policy.extend(d.free_form(&scope.child(policy)));
    }
    if s.max.is_none() {
        d.problem(scope, "max is required");
    }
    s
}

const VOLUME: super::Schema =
    schema(&["type", "source", "read_only", "access_mode", "attachment_mode", "per_alloc"], &["mount_options"]);

pub fn volume(d: &mut Decoder, scope: &Scope, name: &str) -> VolumeRequest {
    d.check(scope, &VOLUME);
    let v = VolumeRequest {
        name: name.to_string(),
        volume_type: d.string(scope, "type").unwrap_or_else(|| "host".into()),
        source: d.string(scope, "source").unwrap_or_default(),
        read_only: d.boolean(scope, "read_only").unwrap_or(false),
        access_mode: d.string(scope, "access_mode").unwrap_or_default(),
        attachment_mode: d.string(scope, "attachment_mode").unwrap_or_default(),
        per_alloc: d.boolean(scope, "per_alloc").unwrap_or(false),
    };
    match v.volume_type.as_str() {
        "host" => {}
        "csi" => d.problem(scope, "\"csi\" volumes are not supported by rove: use host volumes"),
        other => d.problem(scope, format!("type: {other:?} must be host or csi")),
    }
    if scope.blocks("mount_options").next().is_some() {
        d.problem(scope, "\"mount_options\" is not supported by rove: it applies to CSI volumes only");
    }
    v
}

const RESOURCES: super::Schema = schema(&["cpu", "cores", "memory", "memory_max", "disk", "iops"], &["network"]);

pub fn resources(d: &mut Decoder, scope: &Scope, base: Resources) -> Resources {
    d.check(scope, &RESOURCES);
    if d.int(scope, "memory_max") == Some(-1) {
        d.problem(scope, "memory_max = -1 (no memory limit) is not supported by rove: give a limit in MB");
    }
    let r = Resources {
        cpu: d.uint(scope, "cpu").unwrap_or(base.cpu),
        cores: d.uint(scope, "cores").unwrap_or(base.cores),
        memory_mb: d.uint(scope, "memory").unwrap_or(base.memory_mb),
        memory_max_mb: d.uint(scope, "memory_max").unwrap_or(base.memory_max_mb),
        disk_mb: base.disk_mb,
    };
    for legacy in ["disk", "iops"] {
        if scope.attr(legacy).is_some() {
            d.problem(
                scope,
                format!("{legacy:?} was removed from Nomad's task resources; use the group's ephemeral_disk"),
            );
        }
    }
    if scope.blocks("network").next().is_some() {
        d.problem(scope, "\"network\" inside resources was removed from Nomad; declare the network in the group");
    }
    if r.cpu > 0 && r.cores > 0 {
        d.problem(scope, "set cpu or cores, not both");
    }
    r
}

const LOGS: super::Schema = schema(&["max_files", "max_file_size", "disabled", "enabled"], &[]);

pub fn logs(d: &mut Decoder, scope: &Scope, base: LogConfig) -> LogConfig {
    d.check(scope, &LOGS);
    if d.boolean(scope, "disabled") == Some(true) || d.boolean(scope, "enabled") == Some(false) {
        d.problem(scope, "disabling log collection is not supported by rove");
    }
    LogConfig {
        max_files: d.uint(scope, "max_files").unwrap_or(base.max_files),
        max_file_size_mb: d.uint(scope, "max_file_size").unwrap_or(base.max_file_size_mb),
    }
}

const ARTIFACT: super::Schema = schema(&["source", "destination", "mode", "chown"], &["options", "headers"]);

pub fn artifact(d: &mut Decoder, scope: &Scope) -> TaskArtifact {
    d.check(scope, &ARTIFACT);
    let mut a = TaskArtifact {
        getter_source: d.string(scope, "source").unwrap_or_default(),
        relative_dest: d.string(scope, "destination").unwrap_or_else(|| "local/".into()),
        getter_mode: d.string(scope, "mode").unwrap_or_else(|| "any".into()),
        ..TaskArtifact::default()
    };
    for options in scope.blocks("options") {
        a.getter_options.extend(d.string_map(&scope.child(options)));
    }
    for headers in scope.blocks("headers") {
        a.getter_headers.extend(d.string_map(&scope.child(headers)));
    }
    if a.getter_source.is_empty() {
        d.problem(scope, "source is required");
    }
    one_of(d, scope, "mode", &a.getter_mode, &["any", "file", "dir"]);
    if d.boolean(scope, "chown") == Some(true) {
        d.problem(scope, "chown is not supported by rove");
    }
    a
}

const TEMPLATE: super::Schema = schema(
    &[
        "source",
        "destination",
        "data",
        "change_mode",
        "change_signal",
        "splay",
        "perms",
        "uid",
        "gid",
        "left_delimiter",
        "right_delimiter",
        "env",
        "error_on_missing_key",
        "vault_grace",
    ],
    &["wait", "change_script"],
);

pub fn template(d: &mut Decoder, scope: &Scope) -> Template {
    d.check(scope, &TEMPLATE);
    let t = Template {
        source_path: d.string(scope, "source").unwrap_or_default(),
        dest_path: d.string(scope, "destination").unwrap_or_default(),
        embedded_tmpl: d.string(scope, "data").unwrap_or_default(),
        change_mode: d.string(scope, "change_mode").unwrap_or_else(|| "restart".into()),
        change_signal: d.string(scope, "change_signal").unwrap_or_default(),
        splay: d.duration(scope, "splay").unwrap_or(std::time::Duration::from_secs(5)),
        perms: d.string(scope, "perms").unwrap_or_else(|| "0644".into()),
        uid: d.int(scope, "uid").and_then(|v| i32::try_from(v).ok()),
        gid: d.int(scope, "gid").and_then(|v| i32::try_from(v).ok()),
        left_delim: d.string(scope, "left_delimiter").unwrap_or_else(|| "{{".into()),
        right_delim: d.string(scope, "right_delimiter").unwrap_or_else(|| "}}".into()),
        envvars: d.boolean(scope, "env").unwrap_or(false),
        vault_grace: d.duration(scope, "vault_grace").unwrap_or_default(),
        error_on_missing_key: d.boolean(scope, "error_on_missing_key").unwrap_or(false),
    };
    if t.dest_path.is_empty() {
        d.problem(scope, "destination is required");
    }
    if t.source_path.is_empty() == t.embedded_tmpl.is_empty() {
        d.problem(scope, "set exactly one of source and data");
    }
    match t.change_mode.as_str() {
        "restart" | "noop" => {}
        "signal" if t.change_signal.is_empty() => d.problem(scope, "change_mode \"signal\" needs change_signal"),
        "signal" => {}
        "script" => d.problem(scope, "change_mode \"script\" is not supported by rove"),
        other => d.problem(scope, format!("change_mode: {other:?} must be restart, signal or noop")),
    }
    for unsupported in ["wait", "change_script"] {
        if scope.blocks(unsupported).next().is_some() {
            d.problem(scope, format!("{unsupported:?} is not supported by rove"));
        }
    }
    t
}

const LIFECYCLE: super::Schema = schema(&["hook", "sidecar"], &[]);

pub fn lifecycle(d: &mut Decoder, scope: &Scope, base: TaskLifecycle) -> TaskLifecycle {
    d.check(scope, &LIFECYCLE);
    let l = TaskLifecycle {
        hook: d.string(scope, "hook").unwrap_or(base.hook),
        sidecar: d.boolean(scope, "sidecar").unwrap_or(base.sidecar),
    };
    one_of(d, scope, "hook", &l.hook, &["prestart", "poststart", "poststop"]);
    l
}

const VOLUME_MOUNT: super::Schema =
    schema(&["volume", "destination", "read_only", "propagation_mode", "selinux_label"], &[]);

pub fn volume_mount(d: &mut Decoder, scope: &Scope) -> VolumeMount {
    d.check(scope, &VOLUME_MOUNT);
    if scope.attr("selinux_label").is_some() {
        d.problem(scope, "\"selinux_label\" is not supported by rove");
    }
    VolumeMount {
        volume: d.string(scope, "volume").unwrap_or_default(),
        destination: d.string(scope, "destination").unwrap_or_default(),
        read_only: d.boolean(scope, "read_only").unwrap_or(false),
        propagation_mode: d.string(scope, "propagation_mode").unwrap_or_else(|| "private".into()),
    }
}

const DISPATCH_PAYLOAD: super::Schema = schema(&["file"], &[]);

pub fn dispatch_payload(d: &mut Decoder, scope: &Scope, base: DispatchPayloadConfig) -> DispatchPayloadConfig {
    d.check(scope, &DISPATCH_PAYLOAD);
    DispatchPayloadConfig { file: d.string(scope, "file").unwrap_or(base.file) }
}
