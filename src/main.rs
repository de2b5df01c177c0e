//! The `rove` binary: every command, the agent included.

fn main() -> std::process::ExitCode {
    rove::cli::main()
}
