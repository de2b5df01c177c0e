//! Artifacts through a real dev agent, served by an HTTP server the test starts on
//! loopback: a tar.gz checked against its sha256 and unpacked, a file behind a redirect, a
//! local zip; a wrong checksum fails the task before it starts, saying so.

mod common;

use common::{batch_shell_job, job_file, Agent, TempDir, NO_RETRIES};
use sha2::Digest;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

/// Serves `files` by path (and `/redirect` to `/plain.txt`) until the test ends.
fn serve(files: Vec<(String, Vec<u8>)>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).into_owned();
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
            if path == "/redirect" {
                let _ = conn.write_all(b"HTTP/1.1 302 Found\r\nLocation: /plain.txt\r\nContent-Length: 0\r\n\r\n");
                continue;
            }
            match files.iter().find(|(p, _)| *p == path) {
                Some((_, body)) => {
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                    let _ = conn.write_all(head.as_bytes()).and_then(|_| conn.write_all(body));
                }
                None => {
                    let _ = conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                }
            }
        }
    });
    port
}

fn job(name: &str, artifacts: &str) -> String {
    let script = "cat local/app/hello.txt local/plain.txt local/z/inside.txt";
    batch_shell_job(name, NO_RETRIES, &format!("{artifacts}\n"), script)
}

#[test]
fn artifacts_are_fetched_checked_and_unpacked_before_the_task_starts() {
    let dir = TempDir::new("artifacts");
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("app")).unwrap();
    std::fs::write(src.join("app/hello.txt"), "hello from a tarball\n").unwrap();
    let tarball = dir.path().join("app.tar.gz");
    assert!(Command::new("tar").arg("-C").arg(&src).arg("-czf").arg(&tarball).arg("app").status().unwrap().success());
    let tar_bytes = std::fs::read(&tarball).unwrap();
    let sha: String = sha2::Sha256::digest(&tar_bytes).iter().map(|b| format!("{b:02x}")).collect();
    let zip_path = dir.path().join("data.zip");
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        zip.start_file("z/inside.txt", zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(b"from a local zip\n").unwrap();
        zip.finish().unwrap();
    }
    let port = serve(vec![("/app.tar.gz".into(), tar_bytes), ("/plain.txt".into(), b"plain text\n".to_vec())]);
    let agent = Agent::dev(dir.path());

    let artifacts = format!(
        r#"
      artifact {{
        source = "http://127.0.0.1:{port}/app.tar.gz"
        options {{
          checksum = "sha256:{sha}"
        }}
      }}
      artifact {{
        source      = "http://127.0.0.1:{port}/redirect"
        destination = "local/plain.txt"
        mode        = "file"
      }}
      artifact {{
        source = "{zip}"
      }}"#,
        zip = zip_path.display()
    );
    agent.cli_ok(&["job", "run", &job_file(dir.path(), "art.hcl", &job("art", &artifacts))]);
    let allocs = agent.wait_allocs("art", "the job to finish", |a| {
        a.iter().any(|a| a["ClientStatus"] == "complete" || a["ClientStatus"] == "failed")
    });
    let id = allocs[0]["ID"].as_str().unwrap();
    assert_eq!(allocs[0]["ClientStatus"], "complete", "{}", agent.get(&format!("/v1/allocation/{id}"))["TaskStates"]);
    assert_eq!(agent.cli_ok(&["alloc", "logs", id]), "hello from a tarball\nplain text\nfrom a local zip\n");

    let wrong = format!(
        "      artifact {{\n        source = \"http://127.0.0.1:{port}/app.tar.gz\"\n        options {{\n          checksum = \"sha256:{}\"\n        }}\n      }}",
        "0".repeat(64)
    );
    agent.cli_ok(&["job", "run", "-detach", &job_file(dir.path(), "bad.hcl", &job("bad", &wrong))]);
    let allocs = agent.wait_allocs("bad", "the task to fail", |a| a.iter().any(|a| a["ClientStatus"] == "failed"));
    let alloc = agent.get(&format!("/v1/allocation/{}", allocs[0]["ID"].as_str().unwrap()));
    let events = alloc["TaskStates"]["t"]["Events"].to_string();
    assert!(events.contains("Failed Artifact Download") && events.contains("checksum mismatch"), "{events}");
    assert!(!events.contains("\"Started\""), "the task never started: {events}");
}

/// A certificate for 127.0.0.1 and its key, signed by a new CA; the CA's PEM.
fn certificate() -> (rustls::pki_types::CertificateDer<'static>, rustls::pki_types::PrivateKeyDer<'static>, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&key, &ca, &ca_key).unwrap();
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    (cert.der().clone(), key_der, ca.pem())
}

/// Serves `body` at every path over TLS with this certificate; returns the port.
fn serve_tls(
    cert: rustls::pki_types::CertificateDer<'static>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
    body: &'static [u8],
) -> u16 {
    #[allow(deprecated)] // the test server uses the same small provider as the client
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let config = std::sync::Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let Ok(connection) = rustls::ServerConnection::new(config.clone()) else { continue };
            let mut tls = rustls::StreamOwned::new(connection, tcp);
            let mut buf = [0u8; 4096];
            if tls.read(&mut buf).is_err() {
                continue;
            }
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            let _ = tls.write_all(head.as_bytes()).and_then(|_| tls.write_all(body));
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    port
}

#[test]
fn https_artifacts_are_fetched_from_servers_the_node_trusts_only() {
    let dir = TempDir::new("artifacts-https");
    let (cert, key, ca) = certificate();
    let trusted = serve_tls(cert, key, b"over tls\n");
    let (other_cert, other_key, _untrusted_ca) = certificate();
    let untrusted = serve_tls(other_cert, other_key, b"never\n");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    // The agent (and so its client) trusts only the first server's CA.
    std::env::set_var("SSL_CERT_FILE", &ca_file);
    let agent = Agent::dev(dir.path());
    let job = |name: &str, port: u16| {
        let artifact =
            format!("      artifact {{\n        source = \"https://127.0.0.1:{port}/greeting.txt\"\n      }}\n");
        batch_shell_job(name, NO_RETRIES, &artifact, "cat local/greeting.txt")
    };
    agent.cli_ok(&["job", "run", &job_file(dir.path(), "tls.hcl", &job("tls", trusted))]);
    let allocs = agent.wait_allocs("tls", "the job to finish", |a| {
        a.iter().any(|a| a["ClientStatus"] == "complete" || a["ClientStatus"] == "failed")
    });
    let id = allocs[0]["ID"].as_str().unwrap();
    assert_eq!(allocs[0]["ClientStatus"], "complete", "{}", agent.get(&format!("/v1/allocation/{id}"))["TaskStates"]);
    assert_eq!(agent.cli_ok(&["alloc", "logs", id]), "over tls\n");

    agent.cli_ok(&["job", "run", "-detach", &job_file(dir.path(), "untrusted.hcl", &job("untrusted", untrusted))]);
    let allocs =
        agent.wait_allocs("untrusted", "the task to fail", |a| a.iter().any(|a| a["ClientStatus"] == "failed"));
    let alloc = agent.get(&format!("/v1/allocation/{}", allocs[0]["ID"].as_str().unwrap()));
    let events = alloc["TaskStates"]["t"]["Events"].to_string();
    assert!(events.contains("Failed Artifact Download") && events.contains("certificate"), "{events}");
}
