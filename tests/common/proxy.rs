//! A fault-injecting HTTP proxy on 127.0.0.1, in front of moto_server.
//!
//! Each request takes the next fault from a script (then a default one),
//! so a test can say "throttle twice, then let it through". Every
//! connection is served on its own thread and answered with
//! `Connection: close`, as moto does.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug)]
pub enum Fault {
    /// Pass the request to moto and its answer back.
    Forward,
    /// Answer with this status and an awsJson error body of this type.
    Error(u16, &'static str),
    /// Answer with this status, content type and body.
    Raw(u16, &'static str, String),
    /// Close the connection with a TCP reset, answering nothing.
    Reset,
    /// Read the request and never answer.
    Stall,
    /// Forward, but send only the first half of moto's answer.
    Truncate,
    /// Forward after this long: a slow network's round trip.
    Delay(Duration),
    /// After this long, answer a request seen before with moto's earlier
    /// answer to it (same operation and body), else forward: a network
    /// round trip in front of a server that, like AWS, serves requests
    /// concurrently instead of one at a time as moto does.
    DelayReplay(Duration),
}

pub struct Proxy {
    pub port: u16,
    /// Requests that faults applied to (all of them, without a target).
    seen: Arc<AtomicUsize>,
}

/// What decides each request's fault.
struct Plan {
    /// Answers by (operation, body), for `DelayReplay`.
    replies: Mutex<std::collections::HashMap<Vec<u8>, Vec<u8>>>,
    script: Mutex<VecDeque<Fault>>,
    cycle: Vec<Fault>,
    seen: Arc<AtomicUsize>,
    /// Only requests whose `X-Amz-Target` ends with this get faults; the
    /// others are forwarded untouched.
    target: Option<&'static str>,
}

impl Plan {
    fn fault_for(&self, request: &[u8]) -> Fault {
        if let Some(target) = self.target {
            let head = String::from_utf8_lossy(request).to_ascii_lowercase();
            // `secretsmanager.GetSecretValue`, `AmazonSSM.GetParameters`.
            let wanted = format!(".{}", target.to_ascii_lowercase());
            let ours = |l: &str| l.starts_with("x-amz-target:") && l.trim().ends_with(&wanted);
            if !head.lines().any(ours) {
                return Fault::Forward;
            }
        }
        let i = self.seen.fetch_add(1, Ordering::SeqCst);
        self.script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| self.cycle[i % self.cycle.len()].clone())
    }
}

impl Proxy {
    /// A proxy to `upstream` (host:port) that applies `script` in order,
    /// then `then` to every later request.
    pub fn start(upstream: String, script: Vec<Fault>, then: Fault) -> Proxy {
        Proxy::start_cycle(upstream, script, vec![then])
    }

    /// Like [`Proxy::start`], but after the script the faults of `cycle`
    /// repeat in turn (to sprinkle faults over many requests).
    pub fn start_cycle(upstream: String, script: Vec<Fault>, cycle: Vec<Fault>) -> Proxy {
        Proxy::spawn(upstream, None, script, cycle)
    }

    /// Faults only for one operation (`"BatchGetSecretValue"`,
    /// `"GetParameters"`); every other request passes through.
    pub fn start_for(
        upstream: String,
        target: &'static str,
        script: Vec<Fault>,
        then: Fault,
    ) -> Proxy {
        Proxy::spawn(upstream, Some(target), script, vec![then])
    }

    fn spawn(
        upstream: String,
        target: Option<&'static str>,
        script: Vec<Fault>,
        cycle: Vec<Fault>,
    ) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let plan = Arc::new(Plan {
            replies: Mutex::new(std::collections::HashMap::new()),
            script: Mutex::new(VecDeque::from(script)),
            cycle,
            seen: Arc::new(AtomicUsize::new(0)),
            target,
        });
        let proxy = Proxy {
            port,
            seen: Arc::clone(&plan.seen),
        };
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (upstream, plan) = (upstream.clone(), Arc::clone(&plan));
                std::thread::spawn(move || serve(conn, &upstream, &plan));
            }
        });
        proxy
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> usize {
        self.seen.load(Ordering::SeqCst)
    }
}

fn serve(mut conn: TcpStream, upstream: &str, plan: &Plan) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(request) = read_request(&mut conn) else {
        return;
    };
    match plan.fault_for(&request) {
        Fault::Forward => {
            let answer = forward(upstream, &request);
            let _ = conn.write_all(&answer);
        }
        Fault::Delay(d) => {
            std::thread::sleep(d);
            let _ = conn.write_all(&forward(upstream, &request));
        }
        Fault::DelayReplay(d) => {
            std::thread::sleep(d);
            let key = replay_key(&request);
            let known = plan.replies.lock().unwrap().get(&key).cloned();
            let answer = known.unwrap_or_else(|| {
                let answer = forward(upstream, &request);
                plan.replies.lock().unwrap().insert(key, answer.clone());
                answer
            });
            let _ = conn.write_all(&answer);
        }
        Fault::Truncate => {
            let answer = forward(upstream, &request);
            let _ = conn.write_all(&answer[..answer.len() / 2]);
        }
        Fault::Error(status, kind) => {
            let body = format!(r#"{{"__type":"{kind}","message":"injected {kind}"}}"#);
            respond(&mut conn, status, "application/x-amz-json-1.1", &body);
        }
        Fault::Raw(status, content_type, body) => respond(&mut conn, status, content_type, &body),
        Fault::Reset => {
            // SO_LINGER with a zero timeout turns close() into a RST.
            let linger = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            unsafe {
                libc::setsockopt(
                    conn.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    &linger as *const _ as *const libc::c_void,
                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                );
            }
        }
        Fault::Stall => {
            // Hold the connection open, answering nothing, until the client
            // gives up (bounded so the thread ends).
            std::thread::sleep(Duration::from_secs(120));
        }
    }
}

/// The operation and body of a request: what its answer depends on (the
/// signature and date headers change every time).
fn replay_key(request: &[u8]) -> Vec<u8> {
    let split = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(request.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&request[..split]).to_ascii_lowercase();
    let mut key: Vec<u8> = head
        .lines()
        .find(|l| l.starts_with("x-amz-target:"))
        .unwrap_or_default()
        .as_bytes()
        .to_vec();
    key.extend_from_slice(&request[split..]);
    key
}

fn respond(conn: &mut TcpStream, status: u16, content_type: &str, body: &str) {
    let _ = write!(
        conn,
        "HTTP/1.1 {status} Injected\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// The request head and its Content-Length body.
pub fn read_request(conn: &mut impl Read) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(buf)
}

pub fn forward(upstream: &str, request: &[u8]) -> Vec<u8> {
    let mut up = TcpStream::connect(upstream).unwrap();
    let _ = up.set_nodelay(true);
    up.write_all(request).unwrap();
    // Read the head and Content-Length bytes of body: moto may hold the
    // connection open a while after answering.
    let mut answer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = match up.read(&mut chunk) {
            Ok(0) | Err(_) => return answer,
            Ok(n) => n,
        };
        answer.extend_from_slice(&chunk[..n]);
        if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if let Some(length) = length
                && answer.len() >= end + 4 + length
            {
                answer.truncate(end + 4 + length);
                return answer;
            }
        }
    }
}
