//! `rove agent`: builds the agent's configuration from `-dev`, `-config` files and flags
//! (in that order, later wins) and runs it.

use super::{CliResult, Outcome};
use crate::config::{load_path, PartialConfig};
use anyhow::bail;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct AgentArgs {
    /// Run a server and a client in one process, on loopback, with data in a temporary dir
    #[arg(long)]
    dev: bool,
    /// A config file or a directory of them (repeatable; later ones win)
    #[arg(long = "config", value_name = "PATH")]
    configs: Vec<PathBuf>,
    /// Where the agent keeps its state
    #[arg(long = "data-dir")]
    data_dir: Option<PathBuf>,
    /// The address to bind the HTTP API and RPC to
    #[arg(long)]
    bind: Option<String>,
    /// This agent's name
    #[arg(long)]
    node: Option<String>,
    #[arg(long)]
    region: Option<String>,
    /// The datacenter of this agent
    #[arg(long)]
    dc: Option<String>,
    /// TRACE, DEBUG, INFO, WARN or ERROR
    #[arg(long = "log-level")]
    log_level: Option<String>,
    /// Enable the server
    #[arg(long)]
    server: bool,
    /// Enable the client
    #[arg(long)]
    client: bool,
}

impl AgentArgs {
    fn flags(&self) -> PartialConfig {
        PartialConfig {
            data_dir: self.data_dir.clone(),
            bind_addr: self.bind.clone(),
            name: self.node.clone(),
            region: self.region.clone(),
            datacenter: self.dc.clone(),
            log_level: self.log_level.clone(),
            server_enabled: self.server.then_some(true),
            client_enabled: self.client.then_some(true),
            ..PartialConfig::default()
        }
    }
}

pub fn run(args: AgentArgs) -> CliResult {
    let mut partial = if args.dev { PartialConfig::dev() } else { PartialConfig::default() };
    for path in &args.configs {
        partial.merge(load_path(path)?);
    }
    partial.merge(args.flags());
    let config = partial.resolve();
    let Some(level) = crate::logging::parse_level(&config.log_level) else {
        bail!("-log-level: {:?} is not a level (TRACE, DEBUG, INFO, WARN, ERROR)", config.log_level);
    };
    crate::logging::init(level);
    crate::agent::run(config, args.dev)?;
    Ok(Outcome::Success)
}
