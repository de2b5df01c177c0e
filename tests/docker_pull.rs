//! Pulling a docker task's image from a registry: a private registry (Debian's
//! docker-registry, with htpasswd credentials) started by the test on loopback holds the
//! test image under a name the engine has no local copy of. Without `auth` the pull is
//! refused and the task fails saying so; with the right `auth` block it is pulled (its
//! progress in the task events) and runs.

mod common;

use common::{docker_test_image, free_port, job_file, wait_until, Agent, TempDir, NO_RETRIES};
use std::process::{Child, Command};
use std::time::Duration;

const REGISTRY: &str = "/usr/bin/docker-registry";
const USER: &str = "rove";
const PASSWORD: &str = "rove-test-secret";
/// bcrypt of PASSWORD, as htpasswd files hold it.
const PASSWORD_HASH: &str = "$2b$06$VbL.gtKVhVaZOJD0NqbZ3umRiKDgcHT1Rrpu/LE4GoXsulYG1tDKW";

struct Registry(Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_registry(dir: &std::path::Path, port: u16) -> Registry {
    std::fs::write(dir.join("htpasswd"), format!("{USER}:{PASSWORD_HASH}\n")).unwrap();
    let config = format!(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: rove-test\n    path: {htpasswd}\n",
        root = dir.join("registry").display(),
        htpasswd = dir.join("htpasswd").display()
    );
    std::fs::write(dir.join("registry.yml"), config).unwrap();
    let log = std::fs::File::create(dir.join("registry.log")).unwrap();
    let child = Command::new(REGISTRY)
        .args(["serve", dir.join("registry.yml").to_str().unwrap()])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(20), "the registry to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
    });
    Registry(child)
}

fn docker(args: &[&str]) {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn job(name: &str, image: &str, auth: &str) -> String {
    format!(
        r#"
job "{name}" {{
  type = "batch"
  group "g" {{
{NO_RETRIES}    task "t" {{
      driver = "docker"
      config {{
        image   = "{image}"
        command = "/bin/sh"
        args    = ["-c", "echo pulled and running"]
        {auth}
      }}
      resources {{
        memory = 32
      }}
    }}
  }}
}}
"#
    )
}

#[test]
fn images_are_pulled_from_a_registry_with_credentials() {
    let Some(image) = docker_test_image() else { return };
    if !std::path::Path::new(REGISTRY).exists() {
        assert!(
            std::env::var_os("ROVE_REQUIRE_DOCKER").is_none(),
            "{REGISTRY} is missing (apt-get install docker-registry)"
        );
        eprintln!("\n!!! SKIPPING registry test: {REGISTRY} is missing\n");
        return;
    }
    let dir = TempDir::new("docker-pull");
    let port = free_port();
    let _registry = start_registry(dir.path(), port);
    let remote = format!("127.0.0.1:{port}/rove/busybox:{}", std::process::id());
    let registry = format!("127.0.0.1:{port}");
    docker(&["tag", image, &remote]);
    docker(&["login", &registry, "-u", USER, "-p", PASSWORD]);
    docker(&["push", &remote]);
    docker(&["logout", &registry]);
    docker(&["rmi", &remote]);

    let agent = Agent::dev(dir.path());
    agent.cli_ok(&["job", "run", "-detach", &job_file(dir.path(), "anon.hcl", &job("anon", &remote, ""))]);
    let allocs = agent.wait_allocs("anon", "the pull refused", |a| a.iter().any(|a| a["ClientStatus"] == "failed"));
    let alloc = agent.get(&format!("/v1/allocation/{}", allocs[0]["ID"].as_str().unwrap()));
    let events = alloc["TaskStates"]["t"]["Events"].to_string();
    assert!(events.contains("is not available") && events.contains(&remote), "{events}");

    let auth = format!("auth {{\n          username = \"{USER}\"\n          password = \"{PASSWORD}\"\n        }}");
    agent.cli_ok(&["job", "run", "-detach", &job_file(dir.path(), "authed.hcl", &job("authed", &remote, &auth))]);
    let allocs = agent.wait_allocs("authed", "the pulled image to run", |a| {
        a.iter().any(|a| a["ClientStatus"] == "complete" || a["ClientStatus"] == "failed")
    });
    let id = allocs[0]["ID"].as_str().unwrap();
    assert_eq!(allocs[0]["ClientStatus"], "complete", "{}", agent.get(&format!("/v1/allocation/{id}"))["TaskStates"]);
    assert_eq!(agent.cli_ok(&["alloc", "logs", id]), "pulled and running\n");
    let events = agent.get(&format!("/v1/allocation/{id}"))["TaskStates"]["t"]["Events"].clone();
    let pulled = events.as_array().unwrap().iter().any(|e| {
        e["Type"] == "Driver"
            && e["DisplayMessage"].as_str().is_some_and(|m| m.contains(&remote) && m.contains("Downloaded"))
    });
    assert!(pulled, "the pull's progress is in the task events: {events:#}");
    let _ = Command::new("docker").args(["rmi", &remote]).output();
}
