//! An endpoint that enforces AWS's request quotas, for the fleet model in
//! `make bench`: a token bucket per operation (rate and a one-second
//! burst), `ThrottlingException` beyond it. In front of moto, each distinct
//! request (operation and body) is asked of moto once and its answer
//! replayed after, so that moto, which serves one request at a time, is not
//! the bottleneck being measured; every connection has its own thread, as
//! AWS serves requests concurrently.

use std::collections::HashMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::proxy::{forward, read_request};

/// AWS's published quotas (requests per second, per account and region).
pub const QUOTAS: &[(&str, f64)] = &[
    ("GetSecretValue", 10_000.0),
    ("BatchGetSecretValue", 100.0),
    ("DescribeSecret", 40_000.0),
];

struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

#[derive(Default, Clone, Debug)]
pub struct Counts {
    /// Requests that got an answer from moto's data, by operation.
    pub served: HashMap<String, usize>,
    /// Requests answered with ThrottlingException, by operation.
    pub throttled: HashMap<String, usize>,
}

struct State {
    buckets: Mutex<HashMap<String, Bucket>>,
    replies: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
    counts: Mutex<Counts>,
}

pub struct Quota {
    pub port: u16,
    state: Arc<State>,
}

impl Quota {
    /// AWS's quotas divided by `scale`, in front of `upstream` (host:port).
    pub fn start(upstream: String, scale: f64) -> Quota {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let buckets = QUOTAS
            .iter()
            .map(|(op, rate)| {
                let rate = rate / scale;
                let bucket = Bucket {
                    rate,
                    tokens: rate,
                    at: Instant::now(),
                };
                (op.to_string(), bucket)
            })
            .collect();
        let state = Arc::new(State {
            buckets: Mutex::new(buckets),
            replies: Mutex::new(HashMap::new()),
            counts: Mutex::new(Counts::default()),
        });
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (upstream, state) = (upstream.clone(), Arc::clone(&shared));
                std::thread::spawn(move || serve(conn, &upstream, &state));
            }
        });
        Quota { port, state }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The counts so far, and reset them (and refill the buckets) for the
    /// next round.
    pub fn take(&self) -> Counts {
        let mut buckets = self.state.buckets.lock().unwrap();
        for bucket in buckets.values_mut() {
            bucket.tokens = bucket.rate;
            bucket.at = Instant::now();
        }
        std::mem::take(&mut *self.state.counts.lock().unwrap())
    }
}

fn operation(request: &[u8]) -> String {
    let head = String::from_utf8_lossy(request).to_ascii_lowercase();
    head.lines()
        .find_map(|l| l.strip_prefix("x-amz-target:"))
        .and_then(|t| t.trim().rsplit('.').next().map(String::from))
        .map(|op| {
            QUOTAS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(&op))
                .map_or(op, |(name, _)| name.to_string())
        })
        .unwrap_or_default()
}

/// Take a token for `op`; operations without a quota always pass.
fn admit(state: &State, op: &str) -> bool {
    let mut buckets = state.buckets.lock().unwrap();
    let Some(bucket) = buckets.get_mut(op) else {
        return true;
    };
    let now = Instant::now();
    let elapsed = now.duration_since(bucket.at).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * bucket.rate).min(bucket.rate.max(1.0));
    bucket.at = now;
    if bucket.tokens >= 1.0 {
        bucket.tokens -= 1.0;
        true
    } else {
        false
    }
}

fn serve(mut conn: TcpStream, upstream: &str, state: &State) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(request) = read_request(&mut conn) else {
        return;
    };
    let op = operation(&request);
    if !admit(state, &op) {
        *state
            .counts
            .lock()
            .unwrap()
            .throttled
            .entry(op)
            .or_default() += 1;
        let body = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
        let _ = write!(
            conn,
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        return;
    }
    *state.counts.lock().unwrap().served.entry(op).or_default() += 1;
    // The operation and body, without the signature's changing headers.
    let split = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(request.len(), |i| i + 4);
    let mut key = operation(&request).into_bytes();
    key.extend_from_slice(&request[split..]);
    let known = state.replies.lock().unwrap().get(&key).cloned();
    let answer = known.unwrap_or_else(|| {
        let answer = forward(upstream, &request);
        state.replies.lock().unwrap().insert(key, answer.clone());
        answer
    });
    let _ = conn.write_all(&answer);
}
