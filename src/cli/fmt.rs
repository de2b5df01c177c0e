//! `rove fmt`: rewrites job files (`.nomad`, `.hcl`) in the canonical format, or with
//! `-check` only reports which are not.

use super::{CliResult, Outcome};
use anyhow::Context;
use clap::Args;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct FmtArgs {
    /// Files or directories (default: the current directory); `-` reads standard input
    paths: Vec<PathBuf>,
    /// Only check: exit 3 if a file is not formatted, change nothing
    #[arg(long)]
    check: bool,
    /// List the files whose formatting differs
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    list: bool,
    /// Write the result back to the files
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    write: bool,
    /// Descend into subdirectories
    #[arg(long)]
    recursive: bool,
}

fn is_job_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "nomad" || e == "hcl")
}

fn collect(path: &Path, recursive: bool, top: bool, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if !path.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    if !top && !recursive {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("reading {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect(&entry, recursive, false, out)?;
        } else if is_job_file(&entry) {
            out.push(entry);
        }
    }
    Ok(())
}

pub fn run(args: FmtArgs) -> CliResult {
    if args.paths.iter().any(|p| p.as_os_str() == "-") {
        let mut src = String::new();
        std::io::stdin().read_to_string(&mut src)?;
        let formatted = crate::jobspec::format(&src, "<stdin>")?;
        std::io::stdout().write_all(formatted.as_bytes())?;
        return Ok(Outcome::Success);
    }
    let roots = if args.paths.is_empty() { vec![PathBuf::from(".")] } else { args.paths.clone() };
    let mut files = Vec::new();
    for root in &roots {
        collect(root, args.recursive, true, &mut files)?;
    }
    let mut unformatted = 0;
    for file in files {
        let src = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        let formatted = crate::jobspec::format(&src, &file.display().to_string())?;
        if formatted == src {
            continue;
        }
        unformatted += 1;
        if args.list {
            println!("{}", file.display());
        }
        if args.write && !args.check {
            std::fs::write(&file, formatted).with_context(|| format!("writing {}", file.display()))?;
        }
    }
    Ok(if args.check && unformatted > 0 { Outcome::Unformatted } else { Outcome::Success })
}
