//! `rove alloc stop` (the servers stop the allocation and place a replacement),
//! `rove alloc signal` and `rove alloc restart` (the node that runs it signals or restarts
//! its tasks in place), and `rove alloc exec` (a command run in one of its tasks, not
//! interactively: its output is printed when it ends, and its exit code is rove's).

use super::alloc::node_client;
use super::{lookup, monitor, ApiArgs, CliResult, Outcome};
use crate::server::JobRegisterResponse;

#[derive(clap::Args)]
pub struct StopArgs {
    /// Allocation ID or prefix
    alloc: String,
    /// Return right after stopping, without monitoring
    #[arg(long)]
    detach: bool,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(clap::Args)]
pub struct SignalArgs {
    /// Allocation ID or prefix
    alloc: String,
    /// Only this task (default: every running task)
    task: Option<String>,
    /// The signal (default SIGKILL, as Nomad)
    #[arg(short = 's', default_value = "SIGKILL")]
    signal: String,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(clap::Args)]
pub struct RestartArgs {
    /// Allocation ID or prefix
    alloc: String,
    /// Only this task (default: every running task)
    task: Option<String>,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(clap::Args)]
pub struct ExecArgs {
    /// The task to run the command in (needed when the allocation runs several)
    #[arg(long)]
    task: Option<String>,
    /// Seconds the command may run (at most 300)
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Allocation ID or prefix
    alloc: String,
    /// The command and its arguments
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ExecAnswer {
    exit_code: i32,
    stdout: String,
    stderr: String,
}

pub async fn exec(args: ExecArgs) -> CliResult {
    use base64::Engine;
    use std::io::Write;
    let api = args.api.client()?;
    let alloc = lookup::alloc(&api, &args.alloc).await?;
    let node = node_client(&api, &alloc).await?;
    let body =
        serde_json::json!({ "Task": args.task.unwrap_or_default(), "Cmd": args.command, "Timeout": args.timeout });
    let answer: ExecAnswer = node.put(&format!("/v1/client/allocation/{}/exec", alloc.id), &body).await?;
    let decode = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).unwrap_or_default();
    std::io::stdout().write_all(&decode(&answer.stdout))?;
    std::io::stderr().write_all(&decode(&answer.stderr))?;
    Ok(Outcome::Code(answer.exit_code.clamp(0, 255) as u8))
}

pub async fn stop(args: StopArgs) -> CliResult {
    let api = args.api.client()?;
    let alloc = lookup::alloc(&api, &args.alloc).await?;
    let response: JobRegisterResponse =
        api.put(&format!("/v1/allocation/{}/stop", alloc.id), &serde_json::json!({})).await?;
    if args.detach {
        println!("{}", response.eval_id);
        return Ok(Outcome::Success);
    }
    monitor::monitor(&api, &response.eval_id).await
}

/// Sends `body` to the node that runs the allocation, at `/v1/client/allocation/:id/<op>`.
async fn on_node(api: &ApiArgs, prefix: &str, op: &str, body: serde_json::Value) -> CliResult {
    let api = api.client()?;
    let alloc = lookup::alloc(&api, prefix).await?;
    let node = node_client(&api, &alloc).await?;
    let _: serde_json::Value = node.put(&format!("/v1/client/allocation/{}/{op}", alloc.id), &body).await?;
    Ok(Outcome::Success)
}

pub async fn signal(args: SignalArgs) -> CliResult {
    let body = serde_json::json!({ "Task": args.task.unwrap_or_default(), "Signal": args.signal });
    on_node(&args.api, &args.alloc, "signal", body).await
}

pub async fn restart(args: RestartArgs) -> CliResult {
    let body = serde_json::json!({ "TaskName": args.task.unwrap_or_default(), "AllTasks": false });
    on_node(&args.api, &args.alloc, "restart", body).await
}
