//! Fetching a task's `artifact` blocks into its directory before it starts: from `http://`
//! and `https://` URLs (redirects followed, `headers` sent; certificates checked against
//! the system's CA store, or `SSL_CERT_FILE`) or local files (`file://` or an absolute
//! path), checked against `options { checksum = "sha256:..." }`, and unpacked when they are
//! tar, tar.gz/tgz or zip archives (unless `options { archive = "false" }`). Every path
//! stays inside the task directory, archive entries included.

use super::alloc_dir::under;
use crate::server::backup::hex;
use crate::structs::TaskArtifact;
use sha2::Digest;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

const MAX_REDIRECTS: usize = 5;
const TIMEOUT: Duration = Duration::from_secs(60);

/// Fetches every artifact; the first failure says which artifact and why.
pub fn fetch_all(artifacts: &[TaskArtifact], task_dir: &Path) -> Result<(), String> {
    for artifact in artifacts {
        fetch(artifact, task_dir).map_err(|e| format!("artifact {:?}: {e}", artifact.getter_source))?;
    }
    Ok(())
}

fn fetch(artifact: &TaskArtifact, task_dir: &Path) -> Result<(), String> {
    let dest = under(task_dir, &artifact.relative_dest)
        .ok_or_else(|| format!("destination {:?} must stay inside the task directory", artifact.relative_dest))?;
    let source = artifact.getter_source.as_str();
    let bytes = match source.strip_prefix("file://").or_else(|| source.starts_with('/').then_some(source)) {
        Some(path) => std::fs::read(path).map_err(|e| format!("reading {path}: {e}"))?,
        None if source.starts_with("http://") || source.starts_with("https://") => {
            http_get(source, &artifact.getter_headers)?
        }
        None => return Err("source must be an http:// or https:// URL, a file:// URL or an absolute path".into()),
    };
    if let Some(checksum) = artifact.getter_options.get("checksum") {
        verify(&bytes, checksum)?;
    }
    let name = source.rsplit('/').next().unwrap_or_default().split(['?', '#']).next().unwrap_or_default();
    let unpack = artifact.getter_options.get("archive").is_none_or(|a| a != "false");
    let kind = Archive::of(name).filter(|_| unpack);
    match (kind, artifact.getter_mode.as_str()) {
        (Some(kind), _) => kind.unpack(&bytes, &dest),
        (None, "file") => write(&dest, &bytes),
        (None, _) if name.is_empty() => Err("the source names no file".into()),
        (None, _) => write(&dest.join(name), &bytes),
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Checks `bytes` against `type:hex` (sha256 or sha512).
fn verify(bytes: &[u8], checksum: &str) -> Result<(), String> {
    let (kind, expected) = checksum.split_once(':').ok_or_else(|| format!("checksum {checksum:?} is not type:hex"))?;
    let actual = match kind {
        "sha256" => hex(&sha2::Sha256::digest(bytes)),
        "sha512" => hex(&sha2::Sha512::digest(bytes)),
        other => return Err(format!("checksum type {other:?} is not supported (sha256, sha512)")),
    };
    if actual == expected.to_ascii_lowercase() {
        Ok(())
    } else {
        Err(format!("checksum mismatch: expected {kind}:{expected}, got {kind}:{actual}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Archive {
    Tar,
    TarGz,
    Zip,
}

impl Archive {
    fn of(name: &str) -> Option<Archive> {
        if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            Some(Archive::TarGz)
        } else if name.ends_with(".tar") {
            Some(Archive::Tar)
        } else if name.ends_with(".zip") {
            Some(Archive::Zip)
        } else {
            None
        }
    }

    /// Unpacks into `dest`; entries that would land outside it are refused.
    fn unpack(self, bytes: &[u8], dest: &Path) -> Result<(), String> {
        std::fs::create_dir_all(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        let untar = |reader: &mut dyn Read| -> Result<(), String> {
            let mut archive = tar::Archive::new(reader);
            for entry in archive.entries().map_err(|e| format!("reading the tar archive: {e}"))? {
                let mut entry = entry.map_err(|e| format!("reading the tar archive: {e}"))?;
                let path = entry.path().map_err(|e| e.to_string())?.into_owned();
                if !entry.unpack_in(dest).map_err(|e| format!("unpacking {}: {e}", path.display()))? {
                    return Err(format!("archive entry {} would land outside the destination", path.display()));
                }
            }
            Ok(())
        };
        match self {
            Archive::Tar => untar(&mut &bytes[..]),
            Archive::TarGz => untar(&mut flate2::read::GzDecoder::new(bytes)),
            Archive::Zip => {
                let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
                    .map_err(|e| format!("reading the zip archive: {e}"))?;
                for i in 0..archive.len() {
                    let mut file = archive.by_index(i).map_err(|e| format!("reading the zip archive: {e}"))?;
                    let Some(relative) = file.enclosed_name() else {
                        return Err(format!("archive entry {} would land outside the destination", file.name()));
                    };
                    let target = dest.join(relative);
                    if file.is_dir() {
                        std::fs::create_dir_all(&target).map_err(|e| format!("{}: {e}", target.display()))?;
                        continue;
                    }
                    let mut content = Vec::new();
                    file.read_to_end(&mut content).map_err(|e| format!("unpacking {}: {e}", file.name()))?;
                    write(&target, &content)?;
                }
                Ok(())
            }
        }
    }
}

/// An HTTP/1.1 GET over plain TCP or TLS, following redirects; the body of a 200 answer.
fn http_get(url: &str, headers: &BTreeMap<String, String>) -> Result<Vec<u8>, String> {
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let (tls, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
            (Some(rest), _) => (true, rest.to_string()),
            (None, Some(rest)) => (false, rest.to_string()),
            _ => return Err(format!("{url}: only http:// and https:// are supported")),
        };
        let (authority, path) =
            rest.split_once('/').map_or((rest.as_str(), "/".to_string()), |(a, p)| (a, format!("/{p}")));
        let default_port = if tls { 443 } else { 80 };
        let has_port = authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok());
        let host_port = if has_port { authority.to_string() } else { format!("{authority}:{default_port}") };
        let stream = std::net::TcpStream::connect(&host_port).map_err(|e| format!("connecting to {host_port}: {e}"))?;
        stream.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
        let mut request =
            format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nUser-Agent: rove\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        let raw = if tls {
            let host = host_port.rsplit_once(':').map_or(host_port.as_str(), |(h, _)| h).trim_matches(['[', ']']);
            exchange(&mut tls_stream(host, stream)?, &request)
        } else {
            exchange(&mut { stream }, &request)
        }
        .map_err(|e| format!("{url}: {e}"))?;
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| format!("{url}: malformed answer"))?;
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let body = raw[split + 4..].to_vec();
        let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let header = |name: &str| {
            head.lines().skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        match status {
            200 => {
                let chunked = header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
                return if chunked {
                    dechunk(&body).ok_or_else(|| format!("{url}: malformed chunked body"))
                } else {
                    Ok(body)
                };
            }
            301 | 302 | 303 | 307 | 308 => {
                let location = header("location").ok_or_else(|| format!("{url}: redirect without a Location"))?;
                let scheme = if tls { "https" } else { "http" };
                url = if location.starts_with("http") { location } else { format!("{scheme}://{authority}{location}") };
            }
            other => return Err(format!("{url}: HTTP status {other}")),
        }
    }
    Err(format!("{url}: more than {MAX_REDIRECTS} redirects"))
}

/// Sends the request and reads the whole answer (the server closes the connection).
fn exchange(stream: &mut impl ReadWrite, request: &str) -> std::io::Result<Vec<u8>> {
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw) {
        // A server that closes without TLS's close_notify has still sent everything.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => Ok(raw),
        other => other.map(|_| raw),
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// A TLS connection to `host` over `tcp`, the certificate checked against the system's CA
/// store (`SSL_CERT_FILE` and `SSL_CERT_DIR` replace it when set).
fn tls_stream(
    host: &str,
    tcp: std::net::TcpStream,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err("no CA certificates found to check the server's certificate".into());
    }
    // ring rather than aws-lc-rs: a much smaller binary; artifacts need no post-quantum
    // key exchange, which is what rustls deprecates ring's provider over.
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| format!("{host}: {e}"))?;
    let connection = rustls::ClientConnection::new(std::sync::Arc::new(config), name)
        .map_err(|e| format!("TLS with {host}: {e}"))?;
    Ok(rustls::StreamOwned::new(connection, tcp))
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_are_checked() {
        let sha = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        assert!(verify(b"hello", sha).is_ok());
        assert!(verify(b"hullo", sha).unwrap_err().contains("checksum mismatch"));
        assert!(verify(b"hello", "md5:abc").unwrap_err().contains("not supported"));
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(dechunk(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n").unwrap(), b"hello world");
    }

    #[test]
    fn archives_are_known_by_name() {
        assert_eq!(Archive::of("app.tar.gz"), Some(Archive::TarGz));
        assert_eq!(Archive::of("app.tgz"), Some(Archive::TarGz));
        assert_eq!(Archive::of("app.zip"), Some(Archive::Zip));
        assert_eq!(Archive::of("app.jar"), None);
    }
}
