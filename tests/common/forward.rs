//! A real forward proxy on 127.0.0.1 for the proxy tests: `CONNECT
//! host:port` tunnels (HTTPS) and absolute-form requests (`POST
//! http://host:port/ HTTP/1.1`, plain HTTP), as tinyproxy or squid serve
//! them. It logs the request line of each, and refuses (403) anything not
//! on 127.0.0.1, so a request that should have gone elsewhere can never
//! leave loopback.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct ForwardProxy {
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl ForwardProxy {
    pub fn start() -> ForwardProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&log);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let log = Arc::clone(&shared);
                std::thread::spawn(move || serve(conn, &log));
            }
        });
        ForwardProxy { port, log }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The request line of every request seen, in order.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn serve(mut client: TcpStream, log: &Mutex<Vec<String>>) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(10)));
    // The request head, byte by byte, so nothing after it is consumed.
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let line = text.lines().next().unwrap_or("").to_string();
    log.lock()
        .unwrap()
        .push(line.trim_end_matches(" HTTP/1.1").to_string());
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (authority, rest_of_head) = if method == "CONNECT" {
        (target.to_string(), None)
    } else if let Some(after) = target.strip_prefix("http://") {
        let (authority, path) = after.split_at(after.find('/').unwrap_or(after.len()));
        let path = if path.is_empty() { "/" } else { path };
        let rewritten = text.replacen(target, path, 1);
        (authority.to_string(), Some(rewritten))
    } else {
        let _ = client.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    if !authority.starts_with("127.0.0.1:") {
        let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        return;
    }
    let Ok(mut upstream) = TcpStream::connect(&authority) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    match rest_of_head {
        None => {
            let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
        }
        Some(head) => {
            let _ = upstream.write_all(head.as_bytes());
        }
    }
    let _ = client.set_read_timeout(None);
    let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut u2);
        let _ = u2.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(Shutdown::Both);
    let _ = up.join();
}
