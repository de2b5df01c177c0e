//! The drivers benchmark: a real dev agent starts long-running tasks with each driver and
//! reports the median time from `PUT /v1/jobs` to the allocation running, then keeps tasks
//! running to report the memory each one costs beside the task itself (the agent's RSS
//! growth and the task's executor).
//!
//! Run with `cargo bench --bench drivers` (as root: exec and java isolate their tasks;
//! docker and java are left out where no engine or JVM is found).

#[path = "../tests/common/mod.rs"]
mod common;

use common::{docker_test_image, pids_matching, rss_kb, time_to_running, Agent, TempDir};
use std::process::Command;
use std::time::Duration;

const RUNS: usize = 10;
const HELD: usize = 20;

fn job(id: &str, driver: &str, config: serde_json::Value, group_extra: serde_json::Value) -> String {
    let mut group = serde_json::json!({
        "Name": "g",
        "Count": 1,
        "Tasks": [{
            "Name": "t",
            "Driver": driver,
            "Config": config,
            "Resources": { "CPU": 20, "MemoryMB": 64 }
        }]
    });
    if let (Some(group), Some(extra)) = (group.as_object_mut(), group_extra.as_object()) {
        group.extend(extra.clone());
    }
    serde_json::json!({ "Job": { "ID": id, "TaskGroups": [group] } }).to_string()
}

/// A class that sleeps, compiled with javac into `dir/classes`; `None` without a JDK.
fn java_classes(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let classes = dir.join("classes");
    std::fs::create_dir_all(&classes).ok()?;
    let source = dir.join("Sleeper.java");
    std::fs::write(
        &source,
        "public class Sleeper { public static void main(String[] a) throws Exception { Thread.sleep(1000000); } }",
    )
    .ok()?;
    let built = Command::new("javac").arg("-d").arg(&classes).arg(&source).status().ok()?.success();
    built.then_some(classes)
}

fn median_ms(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1000.0
}

fn main() {
    let dir = TempDir::new("bench-drivers");
    let classes = java_classes(dir.path());
    let volume = classes
        .as_ref()
        .map(|c| {
            format!(
                "client {{\n  host_volume \"classes\" {{\n    path = \"{}\"\n    read_only = true\n  }}\n}}\n",
                c.display()
            )
        })
        .unwrap_or_default();
    let agent = Agent::start(dir.path(), "dev", &volume, &["-dev"]);
    agent.wait_ready();
    let sleep = serde_json::json!({ "command": "/bin/sleep", "args": ["1000"] });
    let mut drivers: Vec<(&str, serde_json::Value, serde_json::Value)> =
        vec![("raw_exec", sleep.clone(), serde_json::json!({})), ("exec", sleep.clone(), serde_json::json!({}))];
    if let Some(image) = docker_test_image() {
        drivers.push((
            "docker",
            serde_json::json!({ "image": image, "command": "/bin/sleep", "args": ["1000"] }),
            serde_json::json!({}),
        ));
    }
    if classes.is_some() {
        let volumes = serde_json::json!({ "Volumes": { "classes": { "Name": "classes", "Type": "host", "Source": "classes", "ReadOnly": true } } });
        drivers.push(("java", serde_json::json!({ "class": "Sleeper", "class_path": "/classes" }), volumes));
    }
    for (driver, config, extra) in &drivers {
        let mut times = Vec::new();
        for i in 0..RUNS {
            let id = format!("{driver}-{i}");
            let mut json: serde_json::Value =
                serde_json::from_str(&job(&id, driver, config.clone(), extra.clone())).unwrap();
            if *driver == "java" {
                json["Job"]["TaskGroups"][0]["Tasks"][0]["VolumeMounts"] =
                    serde_json::json!([{ "Volume": "classes", "Destination": "/classes", "ReadOnly": true }]);
            }
            times.push(time_to_running(&agent, &id, &json.to_string()));
            let (status, _) =
                common::http(agent.http_port, "DELETE", &format!("/v1/job/{id}?purge=true"), None).unwrap();
            assert_eq!(status, 200);
        }
        println!(
            "drivers/{driver}/start: median {:.0} ms over {RUNS} jobs (PUT /v1/jobs to running)",
            median_ms(times)
        );
    }

    // Memory per running task: the agent's growth and the executor beside each task.
    std::thread::sleep(Duration::from_secs(3));
    let pid = agent.child.as_ref().unwrap().id();
    let before = rss_kb(pid);
    for i in 0..HELD {
        let id = format!("held-{i}");
        time_to_running(&agent, &id, &job(&id, "raw_exec", sleep.clone(), serde_json::json!({})));
    }
    std::thread::sleep(Duration::from_secs(3));
    let after = rss_kb(pid);
    let executors: Vec<u64> = pids_matching(" executor").into_iter().map(|p| rss_kb(p as u32)).collect();
    let executor_kb = executors.iter().sum::<u64>() as f64 / executors.len().max(1) as f64;
    println!(
        "drivers/memory: agent RSS {:.1} MB idle with no tasks -> {:.1} MB with {HELD} tasks ({:.0} KB per task); executor RSS {:.0} KB per task (n={})",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after.saturating_sub(before)) as f64 / HELD as f64,
        executor_kb,
        executors.len()
    );
}
