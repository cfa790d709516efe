//! A TLS server on 127.0.0.1 that keeps connections alive, as AWS
//! endpoints do (moto answers every request with `Connection: close`).
//!
//! It holds the test CA's certificate for 127.0.0.1, serves any number of
//! requests per connection, forwards each to a plain HTTP upstream (moto)
//! and sends the answer back with `Connection: keep-alive`. It counts
//! connections and requests, so a test sees whether connections are
//! reused.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::proxy::{forward, read_request};

pub struct KeepAlive {
    pub port: u16,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

impl KeepAlive {
    /// `cert_dir` holds `server.pem` and `server.key` (see `tls_moto`).
    pub fn start(upstream: String, cert_dir: &Path) -> KeepAlive {
        let certs = CertificateDer::pem_file_iter(cert_dir.join("server.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(cert_dir.join("server.key")).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = KeepAlive {
            port: listener.local_addr().unwrap().port(),
            connections: Arc::default(),
            requests: Arc::default(),
        };
        let (connections, requests) = (
            Arc::clone(&server.connections),
            Arc::clone(&server.requests),
        );
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                connections.fetch_add(1, Ordering::SeqCst);
                let (config, upstream, requests) =
                    (Arc::clone(&config), upstream.clone(), Arc::clone(&requests));
                std::thread::spawn(move || {
                    let _ = tcp.set_nodelay(true);
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let mut tls = rustls::StreamOwned::new(conn, tcp);
                    while let Some(request) = read_request(&mut tls) {
                        requests.fetch_add(1, Ordering::SeqCst);
                        let answer = keep_alive(&forward(&upstream, &request));
                        if tls.write_all(&answer).and_then(|_| tls.flush()).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        server
    }

    pub fn endpoint(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// moto's answer with its `Connection: close` replaced.
fn keep_alive(answer: &[u8]) -> Vec<u8> {
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&answer[..end]);
    let mut out: String = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    out.push_str("Connection: keep-alive\r\n\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(&answer[end + 4..]);
    out
}
