//! `rove alloc fs [-stat] <alloc> [path]`: a directory of the allocation as a table, a
//! file's contents, or (`-stat`) one entry's details, read from the node that runs it.

use super::alloc::node_client;
use super::format::table;
use super::{lookup, print_json, ApiArgs, CliResult, Outcome};
use crate::api::percent_encode;
use crate::structs::AllocFileInfo;
use std::io::Write;

#[derive(clap::Args)]
pub struct FsArgs {
    /// Allocation ID or prefix
    alloc: String,
    /// Path inside the allocation directory (`/` is its root)
    #[arg(default_value = "/")]
    path: String,
    /// Show the entry's details instead of its contents
    #[arg(long)]
    stat: bool,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    api: ApiArgs,
}

fn rows(entries: &[AllocFileInfo]) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let name = if e.is_dir { format!("{}/", e.name) } else { e.name.clone() };
            vec![e.file_mode.clone(), e.size.to_string(), e.mod_time.clone(), name]
        })
        .collect();
    table(&["Mode", "Size", "Modified Time", "Name"], &rows)
}

pub async fn run(args: FsArgs) -> CliResult {
    let api = args.api.client()?;
    let alloc = lookup::alloc(&api, &args.alloc).await?;
    let node = node_client(&api, &alloc).await?;
    let query = |op: &str| format!("/v1/client/fs/{op}/{}?path={}", alloc.id, percent_encode(&args.path));
    let (info, _): (AllocFileInfo, _) = node.get(&query("stat")).await?;
    if args.stat {
        if args.json {
            print_json(&info);
        } else {
            print!("{}", rows(std::slice::from_ref(&info)));
        }
        return Ok(Outcome::Success);
    }
    if info.is_dir {
        let (entries, _): (Vec<AllocFileInfo>, _) = node.get(&query("ls")).await?;
        if args.json {
            print_json(&entries);
        } else {
            print!("{}", rows(&entries));
        }
    } else {
        let contents = node.request("GET", &query("cat"), None).await?;
        std::io::stdout().write_all(&contents.body)?;
    }
    Ok(Outcome::Success)
}
