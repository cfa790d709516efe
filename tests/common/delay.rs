//! A TCP relay on 127.0.0.1 that adds a round-trip time: every byte is
//! passed on half the round trip after it arrived, in each direction, so a
//! TLS handshake, a TCP connection's first flight and each request pay the
//! round trips they would on a real network. Used by `make bench`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Relay {
    pub port: u16,
}

impl Relay {
    pub fn start(upstream: String, rtt: Duration) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                for s in [&client, &server] {
                    let _ = s.set_nodelay(true);
                }
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                // The client's first flight also waits out the TCP
                // handshake's round trip, which loopback skipped.
                pump(client, s2, rtt / 2, rtt);
                pump(server, c2, rtt / 2, Duration::ZERO);
            }
        });
        Relay { port }
    }
}

/// Bytes read from `from` are written to `to` `delay` later, in order;
/// the first ones `first` later still.
fn pump(mut from: TcpStream, mut to: TcpStream, delay: Duration, mut first: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let due = Instant::now() + delay + std::mem::take(&mut first);
                    if tx.send((due, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
    });
    std::thread::spawn(move || {
        for (due, bytes) in rx {
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
