//! `rove alloc status|logs|fs|stop|signal|restart`.

use super::api_client::ApiClient;
use super::format::{ago, human_bytes, key_values, or_none, short_id, table, timestamp};
use super::{lookup, print_json, ApiArgs, CliResult, Outcome};
use crate::api::AllocFileInfo;
use crate::structs::{AllocResourceUsage, Allocation, Node, ResourceUsage, TaskState};
use anyhow::bail;
use clap::Subcommand;
use std::io::Write;

#[derive(Subcommand)]
pub enum AllocCommand {
    /// Show an allocation and the state of its tasks
    Status {
        /// Allocation ID or prefix
        alloc: String,
        #[arg(long)]
        json: bool,
        /// Also show detailed memory and CPU usage of running tasks
        #[arg(long)]
        stats: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Print a task's stdout (or stderr)
    Logs {
        /// Allocation ID or prefix
        alloc: String,
        /// Task name; optional when the allocation has one task
        task: Option<String>,
        /// Show stderr instead of stdout
        #[arg(long)]
        stderr: bool,
        /// Keep printing new output as it arrives
        #[arg(short = 'f')]
        follow: bool,
        /// Print only the end of the log (see -n)
        #[arg(long)]
        tail: bool,
        /// With -tail, how many lines
        #[arg(short = 'n', default_value_t = 10)]
        lines: usize,
        /// Print only the last BYTES bytes of the log
        #[arg(short = 'c')]
        bytes: Option<u64>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List a directory of the allocation, or print a file of it
    Fs {
        /// Allocation ID or prefix
        alloc: String,
        /// A path in the allocation directory
        #[arg(default_value = "/")]
        path: String,
        /// Describe the file or directory instead of printing it
        #[arg(long)]
        stat: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Stop an allocation; the scheduler places a replacement
    Stop(super::alloc_control::StopArgs),
    /// Send a signal to an allocation's running tasks
    Signal(super::alloc_control::SignalArgs),
    /// Run a command in a running task of an allocation (not interactive)
    Exec(super::alloc_control::ExecArgs),
    /// Restart an allocation's running tasks in place
    Restart(super::alloc_control::RestartArgs),
}

pub async fn run(cmd: AllocCommand) -> CliResult {
    match cmd {
        AllocCommand::Stop(args) => super::alloc_control::stop(args).await,
        AllocCommand::Signal(args) => super::alloc_control::signal(args).await,
        AllocCommand::Exec(args) => super::alloc_control::exec(args).await,
        AllocCommand::Restart(args) => super::alloc_control::restart(args).await,
        AllocCommand::Status { alloc, json, stats, api } => status(&api.client()?, &alloc, json, stats).await,
        AllocCommand::Logs { alloc, task, stderr, follow, tail, lines, bytes, api } => {
            let options = LogOptions {
                stream: if stderr { "stderr" } else { "stdout" },
                follow,
                tail: tail.then_some(lines),
                bytes,
            };
            logs(&api.client()?, &alloc, task, options).await
        }
        AllocCommand::Fs { alloc, path, stat, api } => fs(&api.client()?, &alloc, &path, stat).await,
    }
}

pub async fn status(api: &ApiClient, prefix: &str, json: bool, stats: bool) -> CliResult {
    let alloc = lookup::alloc(api, prefix).await?;
    if json {
        print_json(&alloc);
        return Ok(Outcome::Success);
    }
    println!(
        "{}",
        key_values(&[
            ("ID", alloc.id.clone()),
            ("Eval ID", short_id(&alloc.eval_id)),
            ("Name", alloc.name.clone()),
            ("Node ID", short_id(&alloc.node_id)),
            ("Node Name", alloc.node_name.clone()),
            ("Job ID", alloc.job_id.clone()),
            ("Job Version", alloc.job_version().to_string()),
            ("Client Status", alloc.client_status.to_string()),
            ("Client Description", or_none(&alloc.client_description)),
            ("Desired Status", alloc.desired_status.to_string()),
            ("Desired Description", or_none(&alloc.desired_description)),
            ("Created", ago(alloc.create_time)),
            ("Modified", ago(alloc.modify_time)),
        ])
    );
    // Usage comes from the node that runs the allocation; without it, reservations only.
    let usage = match node_client(api, &alloc).await {
        Ok(node) => node.get::<AllocResourceUsage>(&format!("/v1/client/allocation/{}/stats", alloc.id)).await.ok(),
        Err(_) => None,
    };
    for (name, state) in &alloc.task_states {
        let task_usage = usage.as_ref().and_then(|(u, _)| u.tasks.get(name)).map(|t| &t.resource_usage);
        print_task(&alloc, name, state, task_usage, stats);
    }
    Ok(Outcome::Success)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn print_task(alloc: &Allocation, name: &str, state: &TaskState, usage: Option<&ResourceUsage>, detailed: bool) {
    println!("\nTask {name:?} is {:?}", state.state);
    if let Some(r) = alloc.allocated_resources.tasks.get(name) {
        let (cpu, memory) = match usage {
            Some(u) => (
                format!("{:.1}% of a core/{} MHz", u.cpu_stats.percent, r.cpu),
                format!("{}/{} MiB", mib(u.memory_stats.usage), r.memory_mb),
            ),
            None => (format!("{} MHz", r.cpu), format!("{} MiB", r.memory_mb)),
        };
        println!("Task Resources:");
        println!("{}", table(&["CPU", "Memory"], &[vec![cpu, memory]]));
    }
    if let Some(u) = usage.filter(|_| detailed) {
        let (m, c) = (&u.memory_stats, &u.cpu_stats);
        println!("\nMemory Stats");
        println!("{}", table(&["Cache", "RSS", "Usage"], &[vec![mib(m.cache), mib(m.rss), mib(m.usage)]]));
        println!("\nCPU Stats");
        let percent = |p: f64| format!("{p:.2}%");
        let row = vec![percent(c.percent), percent(c.system_mode), percent(c.user_mode)];
        println!("{}", table(&["Percent", "System Mode", "User Mode"], &[row]));
    }
    let when = |t: i64| if t > 0 { timestamp(t) } else { "N/A".into() };
    println!("\nTask Events:");
    println!(
        "{}",
        key_values(&[
            ("Started At", when(state.started_at)),
            ("Finished At", when(state.finished_at)),
            ("Total Restarts", state.restarts.to_string()),
            ("Last Restart", when(state.last_restart)),
        ])
    );
    println!("\nRecent Events:");
    let rows: Vec<Vec<String>> = state
        .events
        .iter()
        .rev()
        .map(|e| vec![timestamp(e.time), e.event_type.clone(), e.display_message.clone()])
        .collect();
    println!("{}", table(&["Time", "Type", "Description"], &rows));
}

struct LogOptions {
    stream: &'static str,
    follow: bool,
    tail: Option<usize>,
    bytes: Option<u64>,
}

/// The API of the node that runs the allocation, where its files are.
pub(super) async fn node_client(api: &ApiClient, alloc: &Allocation) -> anyhow::Result<ApiClient> {
    let (node, _): (Node, _) = api.get(&format!("/v1/node/{}", alloc.node_id)).await?;
    Ok(if node.http_addr.is_empty() { api.clone() } else { ApiClient::new(&format!("http://{}", node.http_addr))? })
}

/// Copies a streamed body to stdout as it arrives.
fn to_stdout(chunk: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(chunk)?;
    out.flush()
}

/// Reads logs from the node that runs the allocation, as Nomad's CLI does.
async fn logs(api: &ApiClient, prefix: &str, task: Option<String>, options: LogOptions) -> CliResult {
    let alloc = lookup::alloc(api, prefix).await?;
    let tasks: Vec<String> = alloc
        .job
        .as_ref()
        .and_then(|j| j.task_group(&alloc.task_group))
        .map(|g| g.tasks.iter().map(|t| t.name.clone()).collect())
        .unwrap_or_default();
    let task = match task {
        Some(t) if tasks.contains(&t) => t,
        Some(t) => bail!("Could not find task named {t:?}; the allocation has: {}", tasks.join(", ")),
        None if tasks.len() == 1 => tasks[0].clone(),
        None => {
            bail!("Allocation {:?} has several tasks; please specify one of: {}", short_id(&alloc.id), tasks.join(", "))
        }
    };
    let node_api = node_client(api, &alloc).await?;
    let base = format!(
        "/v1/client/fs/logs/{}?task={}&type={}&plain=true",
        alloc.id,
        crate::api::percent_encode(&task),
        options.stream
    );
    let from_end = match (options.bytes, options.tail) {
        (Some(bytes), _) => Some(bytes),
        (None, Some(lines)) => Some(tail_bytes(&node_api, &base, lines).await?),
        (None, None) => None,
    };
    let position = from_end.map_or_else(|| "origin=start&offset=0".to_string(), |b| format!("origin=end&offset={b}"));
    let follow = if options.follow { "&follow=true" } else { "" };
    node_api.stream(&format!("{base}&{position}{follow}"), to_stdout).await?;
    Ok(Outcome::Success)
}

/// How many bytes from the end of the log its last `lines` lines take: reads ever larger
/// windows from the end until one holds more lines than that, or the whole log.
async fn tail_bytes(api: &ApiClient, base: &str, lines: usize) -> anyhow::Result<u64> {
    let mut window = 4096u64.max(lines as u64 * 256);
    loop {
        let data = api.request("GET", &format!("{base}&origin=end&offset={window}"), None).await?.body;
        let newlines = data.iter().filter(|b| **b == b'\n').count();
        if newlines > lines || (data.len() as u64) < window {
            return Ok((data.len() - tail_start(&data, lines)) as u64);
        }
        window *= 4;
    }
}

/// Where the last `n` lines of `data` start (a final newline ends the last line).
fn tail_start(data: &[u8], n: usize) -> usize {
    if n == 0 {
        return data.len();
    }
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    body.iter().enumerate().rev().filter(|(_, b)| **b == b'\n').nth(n - 1).map_or(0, |(i, _)| i + 1)
}

/// `alloc fs`: a directory as a table, a file's contents, or (-stat) one row about it.
async fn fs(api: &ApiClient, prefix: &str, path: &str, stat: bool) -> CliResult {
    let alloc = lookup::alloc(api, prefix).await?;
    let node_api = node_client(api, &alloc).await?;
    let query = format!("{}?path={}", alloc.id, crate::api::percent_encode(path));
    let (info, _): (AllocFileInfo, _) = node_api.get(&format!("/v1/client/fs/stat/{query}")).await?;
    if stat {
        println!("{}", file_table(&[info]));
    } else if info.is_dir {
        let (entries, _): (Vec<AllocFileInfo>, _) = node_api.get(&format!("/v1/client/fs/ls/{query}")).await?;
        println!("{}", file_table(&entries));
    } else {
        node_api.stream(&format!("/v1/client/fs/cat/{query}"), to_stdout).await?;
    }
    Ok(Outcome::Success)
}

fn file_table(files: &[AllocFileInfo]) -> String {
    let rows: Vec<Vec<String>> = files
        .iter()
        .map(|f| {
            let name = if f.is_dir { format!("{}/", f.name) } else { f.name.clone() };
            vec![f.file_mode.clone(), human_bytes(f.size), f.mod_time.clone(), name]
        })
        .collect();
    table(&["Mode", "Size", "Modified Time", "Name"], &rows)
}

#[cfg(test)]
mod tests {
    use super::tail_start;

    #[test]
    fn tail_keeps_the_last_lines() {
        fn last(data: &str, n: usize) -> &str {
            &data[tail_start(data.as_bytes(), n)..]
        }
        assert_eq!(last("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(last("a\nb\nc", 2), "b\nc");
        assert_eq!(last("a\n", 5), "a\n");
        assert_eq!(last("", 3), "");
        assert_eq!(last("a\nb\n", 0), "");
    }
}
