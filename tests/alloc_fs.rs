//! `rove alloc fs` and `/v1/client/fs/ls|stat|cat|readat` through a real dev agent: the
//! allocation directory can be browsed and read, and nothing outside it can be reached.

mod common;

use common::{http, wait_until, Agent, TempDir};
use std::time::Duration;

#[test]
fn alloc_fs_reads_inside_the_allocation_and_refuses_to_leave_it() {
    let dir = TempDir::new("alloc-fs");
    let agent = Agent::dev(dir.path());
    let hcl = r#"
job "files" {
  group "g" {
    task "writer" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "printf 'hello from the task\n' > local/out.txt; ln -s /etc/passwd local/passwd; sleep 600"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"#;
    let id = agent.run_until_running(dir.path(), "files", hcl);
    let path = |op: &str, p: &str| format!("/v1/client/fs/{op}/{id}?path={}", p.replace('/', "%2F"));
    wait_until(Duration::from_secs(10), "the task's files", || {
        let (status, _) = http(agent.http_port, "GET", &path("stat", "writer/local/passwd"), None).unwrap();
        (status == 400).then_some(())
    });

    let root = agent.cli_ok(&["alloc", "fs", &id[..8]]);
    assert!(root.contains("Mode") && root.contains("alloc/") && root.contains("writer/"), "{root}");
    let local = agent.cli_ok(&["alloc", "fs", &id[..8], "writer/local"]);
    assert!(local.contains("out.txt") && local.contains("passwd"), "{local}");
    assert_eq!(agent.cli_ok(&["alloc", "fs", &id, "/writer/local/out.txt"]), "hello from the task\n");
    let stat = agent.cli_ok(&["alloc", "fs", "-stat", &id, "writer/local/out.txt"]);
    assert!(stat.contains(" 20 ") && stat.contains("out.txt"), "{stat}");
    let (status, body) =
        http(agent.http_port, "GET", &format!("{}&offset=6&limit=4", path("readat", "writer/local/out.txt")), None)
            .unwrap();
    assert_eq!((status, String::from_utf8_lossy(&body).as_ref()), (200, "from"));

    for outside in ["../../../../etc/passwd", "/etc/passwd", "writer/local/passwd"] {
        for op in ["cat", "stat", "ls", "readat"] {
            let (status, body) = http(agent.http_port, "GET", &path(op, outside), None).unwrap();
            let text = String::from_utf8_lossy(&body);
            assert_eq!(status, 400, "{op} {outside}: {text}");
            assert!(!text.contains("root:"), "{op} {outside} leaked the file: {text}");
        }
    }
    let refused = agent.cli(&["alloc", "fs", &id, "writer/local/passwd"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("outside the allocation directory"));
    agent.cli_ok(&["job", "stop", "-detach", "files"]);
}
