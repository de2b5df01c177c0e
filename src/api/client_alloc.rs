//! Client allocation endpoints: `/v1/client/allocation/:id/stats`, the resource usage of an
//! allocation's running tasks, read from their cgroups twice, 100 ms apart, so CPU use is
//! a rate; `/v1/client/allocation/:id/signal`, a signal to its running tasks; and
//! `/v1/client/allocation/:id/restart`, a restart of them; and
//! `/v1/client/allocation/:id/exec`, a command run in one of them, not interactively (its
//! output comes back whole, base64-encoded as Go encodes bytes).

use super::response::ApiResponse;
use super::router::ApiContext;
use crate::structs::{AllocResourceUsage, CpuStats, MemoryStats, ResourceUsage, TaskResourceUsage};
use rove_drivers::TaskStats;
use std::time::Duration;

const SAMPLE: Duration = Duration::from_millis(100);

/// One task's usage between two readings.
fn usage(before: &TaskStats, after: &TaskStats) -> ResourceUsage {
    let elapsed = after.collected_at_unix_ns.saturating_sub(before.collected_at_unix_ns).max(1) as f64;
    let percent = |later: u64, earlier: u64| later.saturating_sub(earlier) as f64 / elapsed * 100.0;
    ResourceUsage {
        memory_stats: MemoryStats {
            rss: after.memory_rss_bytes,
            cache: after.memory_cache_bytes,
            usage: after.memory_bytes,
            measured: ["RSS", "Cache", "Usage"].map(String::from).to_vec(),
            ..MemoryStats::default()
        },
        cpu_stats: CpuStats {
            system_mode: percent(after.cpu_system_ns, before.cpu_system_ns),
            user_mode: percent(after.cpu_user_ns, before.cpu_user_ns),
            percent: percent(after.cpu_total_ns, before.cpu_total_ns),
            measured: ["System Mode", "User Mode", "Percent"].map(String::from).to_vec(),
            ..CpuStats::default()
        },
    }
}

/// This agent's client, or the answer saying it has none.
fn local_client(ctx: &ApiContext) -> Result<std::sync::Arc<crate::client::Client>, ApiResponse> {
    ctx.client
        .clone()
        .ok_or_else(|| ApiResponse::error(400, "this agent runs no client; ask the node that runs the allocation"))
}

/// This agent's client and the request body (an empty body is the request's defaults).
fn client_and_request<T: serde::de::DeserializeOwned + Default>(
    ctx: &ApiContext,
    body: &[u8],
) -> Result<(std::sync::Arc<crate::client::Client>, T), ApiResponse> {
    let client = local_client(ctx)?;
    let request = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(_) if body.iter().all(u8::is_ascii_whitespace) => T::default(),
        Err(e) => return Err(ApiResponse::error(400, format!("request body: {e}"))),
    };
    Ok((client, request))
}

/// The body of `/v1/client/allocation/:id/signal`.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct SignalRequest {
    task: String,
    signal: String,
}

pub async fn alloc_signal(ctx: &ApiContext, alloc_id: &str, body: &[u8]) -> ApiResponse {
    let (client, request): (_, SignalRequest) = match client_and_request(ctx, body) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let (id, task, signal) = (alloc_id.to_string(), request.task, request.signal);
    let only = (!task.is_empty()).then_some(task.clone());
    match smol::unblock(move || client.signal_alloc(&id, only.as_deref(), &signal)).await {
        Ok(0) if task.is_empty() => {
            ApiResponse::error(404, format!("allocation {alloc_id:?} has no running task on this node"))
        }
        Ok(0) => {
            ApiResponse::error(404, format!("task {task:?} of allocation {alloc_id:?} is not running on this node"))
        }
        Ok(_) => ApiResponse::json(&serde_json::json!({})),
        Err(e @ rove_drivers::DriverError::UnknownSignal(_)) => ApiResponse::error(400, e.to_string()),
        Err(e) => ApiResponse::error(500, e.to_string()),
    }
}

/// The body of `/v1/client/allocation/:id/restart`.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct RestartRequest {
    task_name: String,
}

pub async fn alloc_restart(ctx: &ApiContext, alloc_id: &str, body: &[u8]) -> ApiResponse {
    let (client, request): (_, RestartRequest) = match client_and_request(ctx, body) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let task = (!request.task_name.is_empty()).then_some(request.task_name.as_str());
    match client.restart_alloc(alloc_id, task) {
        0 => ApiResponse::error(404, format!("allocation {alloc_id:?} has no such running task on this node")),
        _ => ApiResponse::json(&serde_json::json!({})),
    }
}

pub async fn alloc_stats(ctx: &ApiContext, alloc_id: &str) -> ApiResponse {
    let client = match local_client(ctx) {
        Ok(client) => client,
        Err(response) => return response,
    };
    let read =
        |client: std::sync::Arc<crate::client::Client>, id: String| smol::unblock(move || client.alloc_usage(&id));
    let Some(before) = read(client.clone(), alloc_id.to_string()).await else {
        return ApiResponse::error(404, format!("allocation {alloc_id:?} has no running task on this node"));
    };
    smol::Timer::after(SAMPLE).await;
    let after = read(client, alloc_id.to_string()).await.unwrap_or_default();
    let tasks: std::collections::BTreeMap<String, TaskResourceUsage> = after
        .iter()
        .filter_map(|(task, later)| {
            let earlier = before.get(task)?;
            let timestamp = later.collected_at_unix_ns as i64;
            Some((task.clone(), TaskResourceUsage { resource_usage: usage(earlier, later), timestamp }))
        })
        .collect();
    let answer = AllocResourceUsage {
        resource_usage: ResourceUsage::sum(tasks.values().map(|t| &t.resource_usage)),
        timestamp: tasks.values().map(|t| t.timestamp).max().unwrap_or_default(),
        tasks,
    };
    ApiResponse::json(&answer)
}

/// The longest a command run in a task may take.
const MAX_EXEC: Duration = Duration::from_secs(300);

/// The body of `/v1/client/allocation/:id/exec`.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ExecBody {
    task: String,
    cmd: Vec<String>,
    /// Seconds; 0 is the longest allowed.
    timeout: u64,
}

pub async fn alloc_exec(ctx: &ApiContext, alloc_id: &str, body: &[u8]) -> ApiResponse {
    use crate::client::live_tasks::ExecError;
    use base64::Engine;
    let (client, request): (_, ExecBody) = match client_and_request(ctx, body) {
        Ok(found) => found,
        Err(response) => return response,
    };
    if request.cmd.is_empty() {
        return ApiResponse::error(400, "Cmd: give the command to run");
    }
    let timeout = match request.timeout {
        0 => MAX_EXEC,
        secs => Duration::from_secs(secs).min(MAX_EXEC),
    };
    let (id, task) = (alloc_id.to_string(), (!request.task.is_empty()).then_some(request.task));
    let cmd = request.cmd;
    match smol::unblock(move || client.exec_alloc(&id, task.as_deref(), cmd, timeout)).await {
        Ok(out) => {
            let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
            ApiResponse::json(&serde_json::json!({
                "ExitCode": out.exit_code,
                "Stdout": b64(&out.stdout),
                "Stderr": b64(&out.stderr),
            }))
        }
        Err(e @ ExecError::NotRunning(_)) => ApiResponse::error(404, e.to_string()),
        Err(e @ ExecError::WhichTask(_)) => ApiResponse::error(400, e.to_string()),
        Err(e) => ApiResponse::error(500, e.to_string()),
    }
}
