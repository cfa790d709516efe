//! The physical floor for `make bench`: one HTTP round trip to the same
//! endpoint (a `GetSecretValue` as moto accepts it, unsigned) and then
//! `execve` of the command. Standard library only, so it starts as fast as
//! a program can.
//!
//!     floor http://127.0.0.1:PORT SECRET_ID -- true

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::Command;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (endpoint, secret, command) = (&args[1], &args[2], &args[4..]);
    let host = endpoint.trim_start_matches("http://");
    let body = format!(r#"{{"SecretId":"{secret}"}}"#);
    let mut conn = TcpStream::connect(host).expect("connect");
    conn.set_nodelay(true).expect("nodelay");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nX-Amz-Target: secretsmanager.GetSecretValue\r\n\
         Content-Type: application/x-amz-json-1.1\r\nAuthorization: AWS4-HMAC-SHA256 \
         Credential=testing/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, \
         Signature=0\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(request.as_bytes()).expect("write");
    // Read the head, then exactly Content-Length bytes, as an HTTP client
    // does; waiting for the server to close would time the server instead.
    let mut answer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = conn.read(&mut chunk).expect("read");
        assert!(n > 0, "floor: connection closed early");
        answer.extend_from_slice(&chunk[..n]);
        if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            if answer.len() >= end + 4 + length {
                break;
            }
        }
    }
    assert!(answer.starts_with(b"HTTP/1.1 200"), "floor: request failed");
    let err = Command::new(&command[0]).args(&command[1..]).exec();
    panic!("exec: {err}");
}
