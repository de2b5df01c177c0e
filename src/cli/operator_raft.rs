//! `rove operator raft list-peers` and `rove operator raft remove-peer`: the servers that
//! vote in the cluster's Raft, and removing one that is gone for good.

use super::format::table;
use super::{print_json, ApiArgs, CliResult, Outcome};
use crate::api::{percent_encode as encode, RaftServer};
use anyhow::bail;
use clap::Subcommand;
use serde::Deserialize;

#[derive(Subcommand)]
pub enum RaftCommand {
    /// List the Raft peers
    ListPeers {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Remove a server from the Raft peers
    RemovePeer {
        /// The peer's RPC address, host:port
        #[arg(long)]
        peer_address: Option<String>,
        /// The peer's ID, as list-peers shows it
        #[arg(long)]
        peer_id: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct Configuration {
    servers: Vec<RaftServer>,
    index: u64,
}

pub async fn run(cmd: RaftCommand) -> CliResult {
    match cmd {
        RaftCommand::ListPeers { json, api } => {
            let (config, _): (Configuration, _) = api.client()?.get("/v1/operator/raft/configuration").await?;
            if json {
                print_json(&config);
                return Ok(Outcome::Success);
            }
            let rows: Vec<Vec<String>> = config
                .servers
                .iter()
                .map(|s| {
                    let state = if s.leader { "leader" } else { "follower" };
                    vec![
                        s.node.clone(),
                        s.id.clone(),
                        s.address.clone(),
                        state.into(),
                        s.voter.to_string(),
                        s.raft_protocol.clone(),
                    ]
                })
                .collect();
            println!("{}", table(&["Node", "ID", "Address", "State", "Voter", "RaftProtocol"], &rows));
            Ok(Outcome::Success)
        }
        RaftCommand::RemovePeer { peer_address, peer_id, api } => {
            let (key, value) = match (peer_address, peer_id) {
                (Some(addr), None) => ("address", addr),
                (None, Some(id)) => ("id", id),
                _ => bail!("give exactly one of -peer-address and -peer-id"),
            };
            let path = format!("/v1/operator/raft/peer?{key}={}", encode(&value));
            let _: serde_json::Value = api.client()?.delete(&path).await?;
            println!("Removed peer with {key} {value:?}");
            Ok(Outcome::Success)
        }
    }
}
