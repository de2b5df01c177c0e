//! The command line: Nomad's verbs and flags (`rove job run`, `rove alloc logs`, ...), one
//! module per command family. Flags may be written Nomad's way with one dash (`-json`,
//! `-address=...`) or with two.

mod agent;
mod alloc;
mod alloc_control;
mod api_client;
mod eval;
mod fmt;
mod format;
mod job;
mod job_launch;
mod job_plan;
mod lookup;
mod monitor;
mod node;
mod node_pool;
mod operator;
mod operator_raft;
mod status;

use api_client::{ApiClient, DEFAULT_ADDRESS};
use clap::{Args, CommandFactory, Parser, Subcommand};
use std::collections::BTreeSet;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "rove", version, about = "A small workload orchestrator, compatible with Nomad job files and API")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the agent's HTTP API is.
#[derive(Args, Clone)]
pub struct ApiArgs {
    /// The agent's HTTP address (also NOMAD_ADDR or ROVE_ADDR)
    #[arg(long, global = true)]
    address: Option<String>,
}

impl ApiArgs {
    pub fn client(&self) -> Result<ApiClient, api_client::ApiError> {
        let from_env = || std::env::var("ROVE_ADDR").or_else(|_| std::env::var("NOMAD_ADDR")).ok();
        let address = self.address.clone().or_else(from_env).unwrap_or_else(|| DEFAULT_ADDRESS.to_string());
        ApiClient::new(&address)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run an agent (server, client or both)
    Agent(agent::AgentArgs),
    /// Work with jobs
    #[command(subcommand)]
    Job(job::JobCommand),
    /// Work with allocations
    #[command(subcommand)]
    Alloc(alloc::AllocCommand),
    /// Work with client nodes
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// Work with evaluations
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    /// Work with servers
    #[command(subcommand)]
    Server(node::ServerCommand),
    /// Cluster-wide settings for operators
    #[command(subcommand)]
    Operator(operator::OperatorCommand),
    /// Show the status of jobs, or of the job, allocation, evaluation or node with this ID prefix
    Status(status::StatusArgs),
    /// Rewrite job files in the canonical format
    Fmt(fmt::FmtArgs),
    /// Print the version
    Version,
    /// Run one task for a client (started by the agent, not by hand)
    #[command(hide = true)]
    Executor {
        /// The task's id, naming the executor in the process table
        task: Option<String>,
    },
}

/// What a command ends with: success, a failure with its reason, or another exit code.
pub enum Outcome {
    Success,
    /// Exit code 2, as Nomad uses for placement failures.
    Partial,
    /// Exit code 3: `fmt -check` found files that are not formatted.
    Unformatted,
    /// Exit code 1 without an error: `job plan` would create or destroy allocations.
    Changes,
    /// Exit code 255: `job plan` failed (its 1 means "changes").
    PlanError,
    /// The exit code of a command run elsewhere (`alloc exec`).
    Code(u8),
}

pub type CliResult = anyhow::Result<Outcome>;

/// Every long flag name the command tree knows, so `-json` can be read as `--json`.
fn long_flags() -> BTreeSet<String> {
    fn walk(cmd: &clap::Command, names: &mut BTreeSet<String>) {
        for arg in cmd.get_arguments() {
            if let Some(long) = arg.get_long() {
                names.insert(long.to_string());
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, names);
        }
    }
    let mut names = BTreeSet::new();
    walk(&Cli::command(), &mut names);
    names.insert("help".into());
    names.insert("version".into());
    names
}

/// Rewrites Nomad-style `-flag` and `-flag=value` to `--flag...` for known long flags.
fn normalize_args(args: Vec<String>) -> Vec<String> {
    let known = long_flags();
    let mut out = Vec::with_capacity(args.len());
    let mut passthrough = false;
    for arg in args {
        if arg == "--" {
            passthrough = true;
        }
        let rewritten = match arg.strip_prefix('-') {
            Some(rest) if !passthrough && !rest.starts_with('-') && rest.len() > 1 => {
                let name = rest.split('=').next().unwrap_or(rest);
                if known.contains(name) {
                    format!("--{rest}")
                } else {
                    arg
                }
            }
            _ => arg,
        };
        out.push(rewritten);
    }
    out
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(normalize_args(std::env::args().collect())) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Agent(args) => agent::run(args),
        Command::Fmt(args) => fmt::run(args),
        Command::Version => {
            println!("rove v{}", env!("CARGO_PKG_VERSION"));
            Ok(Outcome::Success)
        }
        Command::Executor { .. } => return ExitCode::from(crate::client::executor::run().clamp(0, 255) as u8),
        command => smol::block_on(run_client_command(command)),
    };
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Partial) => ExitCode::from(2),
        Ok(Outcome::Unformatted) => ExitCode::from(3),
        Ok(Outcome::Changes) => ExitCode::from(1),
        Ok(Outcome::PlanError) => ExitCode::from(255),
        Ok(Outcome::Code(code)) => ExitCode::from(code),
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_client_command(command: Command) -> CliResult {
    match command {
        Command::Job(cmd) => job::run(cmd).await,
        Command::Alloc(cmd) => alloc::run(cmd).await,
        Command::Node(cmd) => node::run(cmd).await,
        Command::Server(cmd) => node::run_server(cmd).await,
        Command::Eval(cmd) => eval::run(cmd).await,
        Command::Operator(cmd) => operator::run(cmd).await,
        Command::Status(args) => status::run(args).await,
        Command::Agent(_) | Command::Fmt(_) | Command::Version | Command::Executor { .. } => {
            unreachable!("handled before the async runtime starts")
        }
    }
}

/// Prints a value as indented JSON (`-json` output).
pub fn print_json<T: serde::Serialize>(value: &T) {
    println!("{}", serde_json::to_string_pretty(value).expect("API values serialize to JSON"));
}

#[cfg(test)]
mod tests {
    use super::normalize_args;

    #[test]
    fn single_dash_long_flags_become_double_dash() {
        let args = ["rove", "job", "status", "-json", "-address=http://x:1", "-n", "web", "-unknownflag"];
        let out = normalize_args(args.iter().map(|s| s.to_string()).collect());
        assert_eq!(out, ["rove", "job", "status", "--json", "--address=http://x:1", "-n", "web", "-unknownflag"]);
    }
}
