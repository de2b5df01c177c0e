//! A fault-injecting TCP proxy for server-to-server traffic. Each server advertises a proxy
//! port instead of its own RPC port, so every connection another server opens to it passes
//! here. Raft connections name their sender in their hello frame; with that the proxy cuts
//! an isolated server off in both directions: nothing reaches it, and its Raft messages
//! reach no one. Isolating a server also breaks the connections already open.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The byte a Raft connection opens with.
const PREFACE_RAFT: u8 = 0x02;

#[derive(Default)]
struct State {
    isolated: HashSet<String>,
    /// Open connections: (sending server when known, receiving server, both sockets).
    open: Vec<(Option<String>, String, TcpStream, TcpStream)>,
}

#[derive(Clone, Default)]
pub struct Faults {
    state: Arc<Mutex<State>>,
}

impl Faults {
    /// Starts a proxy in front of server `name` listening on `target_port`; returns the
    /// proxy's port.
    pub fn proxy(&self, name: &str, target_port: u16) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (faults, name) = (self.clone(), name.to_string());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (faults, name) = (faults.clone(), name.clone());
                std::thread::spawn(move || faults.relay(conn, &name, target_port));
            }
        });
        port
    }

    /// Cuts `name` off from the other servers.
    pub fn isolate(&self, name: &str) {
        let mut state = self.state.lock().unwrap();
        state.isolated.insert(name.to_string());
        state.open.retain(|(from, to, a, b)| {
            let cut = to == name || from.as_deref() == Some(name);
            if cut {
                let _ = a.shutdown(Shutdown::Both);
                let _ = b.shutdown(Shutdown::Both);
            }
            !cut
        });
    }

    /// Ends every isolation.
    pub fn heal(&self) {
        self.state.lock().unwrap().isolated.clear();
    }

    fn relay(&self, mut inbound: TcpStream, to: &str, target_port: u16) {
        inbound.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let mut head = vec![0u8; 1];
        if inbound.read_exact(&mut head).is_err() {
            return;
        }
        let mut from = None;
        if head[0] == PREFACE_RAFT {
            let mut len = [0u8; 4];
            if inbound.read_exact(&mut len).is_err() {
                return;
            }
            let mut hello = vec![0u8; u32::from_be_bytes(len) as usize];
            if inbound.read_exact(&mut hello).is_err() {
                return;
            }
            let parsed: serde_json::Value = serde_json::from_slice(&hello).unwrap_or_default();
            from = parsed["peer"]["name"].as_str().map(str::to_string);
            head.extend_from_slice(&len);
            head.extend_from_slice(&hello);
        }
        inbound.set_read_timeout(None).ok();
        let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target_port)) else { return };
        {
            let mut state = self.state.lock().unwrap();
            let blocked = state.isolated.contains(to) || from.as_ref().is_some_and(|f| state.isolated.contains(f));
            if blocked || outbound.write_all(&head).is_err() {
                return;
            }
            let (Ok(a), Ok(b)) = (inbound.try_clone(), outbound.try_clone()) else { return };
            state.open.push((from, to.to_string(), a, b));
        }
        let (Ok(mut back_in), Ok(mut back_out)) = (inbound.try_clone(), outbound.try_clone()) else { return };
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut back_out, &mut back_in);
            let _ = back_in.shutdown(Shutdown::Both);
        });
        let _ = std::io::copy(&mut inbound, &mut outbound);
        let _ = outbound.shutdown(Shutdown::Both);
    }
}
