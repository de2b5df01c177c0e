//! End-to-end tests of task logs and the allocation file system: a real dev agent runs
//! raw_exec jobs; their output is rotated by `logs { max_files max_file_size }`, read back
//! with `alloc logs` (whole, tail and follow), and their directory is browsed with
//! `alloc fs` and `/v1/client/fs/*`, which refuse paths leading outside it.

mod common;

use common::{http, job_file, wait_until, Agent, TempDir};
use serde_json::Value;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn job(id: &str, job_type: &str, script: &str) -> String {
    format!(
        r#"
job "{id}" {{
  type = "{job_type}"
  group "g" {{
    task "main" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "{script}"]
      }}
      logs {{
        max_files     = 2
        max_file_size = 1
      }}
      resources {{
        cpu    = 50
        memory = 32
      }}
    }}
  }}
}}
"#
    )
}

/// Runs a job and returns its allocation's ID once the allocation is in `status`.
fn run(agent: &Agent, dir: &TempDir, id: &str, job_type: &str, script: &str, status: &str) -> String {
    let path = job_file(dir.path(), &format!("{id}.hcl"), &job(id, job_type, script));
    agent.cli_ok(&["job", "run", "-detach", &path]);
    let allocs = agent.wait_allocs(id, status, |a| a.len() == 1 && a[0]["ClientStatus"] == status);
    allocs[0]["ID"].as_str().unwrap().to_string()
}

const MIB: u64 = 1 << 20;

#[test]
fn output_is_rotated_and_read_back_whole_and_tailed() {
    let dir = TempDir::new("rotate");
    let agent = Agent::dev(dir.path());
    let script = "yes abcdefg | head -c 3500000; echo; echo tail-one; echo tail-two";
    let alloc = run(&agent, &dir, "rotate", "batch", script, "complete");

    let listing = agent.get(&format!("/v1/client/fs/ls/{alloc}?path=alloc/logs"));
    let stdout: Vec<(String, u64)> = listing
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["Name"].as_str().unwrap().starts_with("main.stdout."))
        .map(|f| (f["Name"].as_str().unwrap().to_string(), f["Size"].as_u64().unwrap()))
        .collect();
    // 437,500 lines of "abcdefg\n", then the tail lines: the last two MiB-files hold the end.
    let written = format!("{}\ntail-one\ntail-two\n", "abcdefg\n".repeat(437_500));
    let total = written.len() as u64;
    assert_eq!(stdout, [("main.stdout.2".to_string(), MIB), ("main.stdout.3".to_string(), total - 3 * MIB)]);

    let logs = agent.cli_ok(&["alloc", "logs", &alloc[..8]]);
    assert!(logs == written[2 * MIB as usize..], "alloc logs is not the end of the output, in order");
    assert_eq!(agent.cli_ok(&["alloc", "logs", "-tail", "-n", "2", &alloc[..8]]), "tail-one\ntail-two\n");
    assert_eq!(agent.cli_ok(&["alloc", "logs", "-tail", "-c", "9", &alloc[..8]]), "tail-two\n");
}

#[test]
fn follow_prints_lines_written_after_it_started() {
    let dir = TempDir::new("follow");
    let agent = Agent::dev(dir.path());
    let script = "i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.1; done";
    let alloc = run(&agent, &dir, "follow", "service", script, "running");
    wait_until(Duration::from_secs(20), "first output", || {
        agent.cli_ok(&["alloc", "logs", &alloc]).contains("line-3").then_some(())
    });
    let before = agent.cli_ok(&["alloc", "logs", &alloc]);
    let last: u64 = before.lines().last().unwrap().trim_start_matches("line-").parse().unwrap();

    let mut child = Command::new(common::BIN)
        .args(["alloc", "logs", "-f", &alloc])
        .env("NOMAD_ADDR", agent.address())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let output = Arc::new(Mutex::new(String::new()));
    let reader = {
        let (mut stdout, output) = (child.stdout.take().unwrap(), output.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                output.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let later = format!("line-{}\n", last + 20);
    wait_until(Duration::from_secs(30), "followed output", || output.lock().unwrap().contains(&later).then_some(()));
    assert!(child.try_wait().unwrap().is_none(), "alloc logs -f ended while the task runs");
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    let text = output.lock().unwrap().clone();
    assert!(text.starts_with("line-0\nline-1\n"), "{text}");
}

#[test]
fn alloc_fs_lists_and_cats_and_refuses_paths_outside() {
    let dir = TempDir::new("fs");
    let agent = Agent::dev(dir.path());
    let script = "ln -s /etc/passwd local/passwd; ln -s /etc local/etc; echo hello-file > local/hello.txt; sleep 1000";
    let alloc = run(&agent, &dir, "files", "service", script, "running");
    wait_until(Duration::from_secs(20), "the task's files", || {
        agent.try_get(&format!("/v1/client/fs/stat/{alloc}?path=main/local/hello.txt")).ok().filter(|(s, _)| *s == 200)
    });

    let root = agent.cli_ok(&["alloc", "fs", &alloc[..8]]);
    let header = root.lines().next().unwrap();
    for column in ["Mode", "Size", "Modified Time", "Name"] {
        assert!(header.contains(column), "{root}");
    }
    assert!(root.lines().any(|l| l.ends_with(" alloc/") && l.starts_with('d')), "{root}");
    assert!(root.lines().any(|l| l.ends_with(" main/")), "{root}");
    let logs = agent.cli_ok(&["alloc", "fs", &alloc[..8], "alloc/logs"]);
    assert!(logs.lines().any(|l| l.ends_with(" main.stdout.0")), "{logs}");
    assert_eq!(agent.cli_ok(&["alloc", "fs", &alloc[..8], "main/local/hello.txt"]), "hello-file\n");
    let stat = agent.cli_ok(&["alloc", "fs", "-stat", &alloc[..8], "/main/local/hello.txt"]);
    assert_eq!(stat.lines().count(), 2, "{stat}");
    assert!(stat.contains("-rw-") && stat.contains("11 B") && stat.trim_end().ends_with("hello.txt"), "{stat}");

    let info = agent.get(&format!("/v1/client/fs/stat/{alloc}?path=main/local/hello.txt"));
    assert_eq!(info["Size"], 11);
    assert_eq!(info["IsDir"], false);
    assert_eq!(info["ContentType"], "text/plain; charset=utf-8");
    let (status, body) = http(
        agent.http_port,
        "GET",
        &format!("/v1/client/fs/readat/{alloc}?path=main/local/hello.txt&offset=6&limit=4"),
        None,
    )
    .unwrap();
    assert_eq!((status, body.as_slice()), (200, b"file".as_slice()));

    for op in ["cat", "stat", "ls", "readat", "stream"] {
        for path in [
            "..%2F..%2Fetc%2Fpasswd",
            "main%2F..%2F..%2F..",
            "%2Fetc%2Fpasswd",
            "main%2Flocal%2Fpasswd",
            "main%2Flocal%2Fetc%2Fhostname",
        ] {
            let (status, body) =
                http(agent.http_port, "GET", &format!("/v1/client/fs/{op}/{alloc}?path={path}&limit=10"), None)
                    .unwrap();
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            assert_eq!(status, 400, "{op} {path}: {body}");
            assert!(
                body["Error"].as_str().unwrap().contains("outside the allocation directory"),
                "{op} {path}: {body}"
            );
        }
    }
    let refused = agent.cli(&["alloc", "fs", &alloc[..8], "main/local/passwd"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("outside the allocation directory"));
    assert!(!String::from_utf8_lossy(&refused.stdout).contains("root:"));
}
