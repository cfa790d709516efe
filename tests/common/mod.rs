//! Shared by the integration tests: one real `moto_server` per test binary,
//! seeding through the real AWS SDK, and one way to run the real binary.
//!
//! moto is started on a free 127.0.0.1 port from a thread that lives as
//! long as the test process, with PR_SET_PDEATHSIG so the kernel stops it
//! if we die, and an `atexit` hook that stops it by PID when the harness
//! exits normally.

#![allow(dead_code)] // each test binary uses its own part of this module

pub mod agent;
pub mod delay;
pub mod forward;
pub mod keepalive;
pub mod proxy;
pub mod quota;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_secretsmanager::primitives::Blob;

pub const BIN: &str = env!("CARGO_BIN_EXE_secretexec");

// ---------------------------------------------------------------- moto

static MOTO_PID: AtomicI32 = AtomicI32::new(0);
static MOTO_PORT: OnceLock<u16> = OnceLock::new();

static TLS_PID: AtomicI32 = AtomicI32::new(0);
static TLS: OnceLock<(u16, std::path::PathBuf)> = OnceLock::new();

extern "C" fn stop_moto() {
    for slot in [&MOTO_PID, &TLS_PID] {
        let pid = slot.swap(0, Ordering::SeqCst);
        if pid > 0 {
            unsafe {
                libc::kill(pid, libc::SIGTERM);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

/// A second moto_server, serving HTTPS with a certificate for 127.0.0.1
/// signed by a CA made for this test binary: its `https://` endpoint and
/// the CA's PEM file. Its state is its own (seed it with [`create_tls`]).
pub fn tls_moto() -> (String, std::path::PathBuf) {
    let (port, ca) = TLS.get_or_init(|| {
        let dir = tempdir("tls-ca");
        make_ca(&dir);
        let args = vec![
            "-c".to_string(),
            dir.join("server.pem").display().to_string(),
            "-k".to_string(),
            dir.join("server.key").display().to_string(),
        ];
        let port = start_in_thread(move || {
            spawn_moto(&args, &TLS_PID, |port| {
                TcpStream::connect(("127.0.0.1", port)).is_ok()
            })
        });
        (port, dir.join("ca.pem"))
    });
    (format!("https://127.0.0.1:{port}"), ca.clone())
}

/// A CA and a server certificate for 127.0.0.1 signed by it, by openssl.
fn make_ca(dir: &std::path::Path) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    new_ca(dir, "ca");
    openssl(
        dir,
        "req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
         -keyout server.key -out server.csr -subj /CN=127.0.0.1",
    );
    openssl(
        dir,
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
         -out server.pem -days 2 -extfile server.ext",
    );
}

/// A new self-signed CA in `dir`: `NAME.pem` (returned) and `NAME.key`.
pub fn new_ca(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    openssl(
        dir,
        &format!(
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
             -keyout {name}.key -out {name}.pem -days 2 -subj /CN=secretexec-test-{name} \
             -addext basicConstraints=critical,CA:TRUE \
             -addext keyUsage=critical,keyCertSign,cRLSign"
        ),
    );
    dir.join(format!("{name}.pem"))
}

fn openssl(dir: &std::path::Path, args: &str) {
    let args: Vec<&str> = args.split_whitespace().collect();
    let out = Command::new("openssl")
        .args(&args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Create a secret in the TLS moto, trusting its CA.
pub fn create_tls(name: &str, value: &str) -> String {
    let (url, ca) = tls_moto();
    let trust = secretexec::http::Trust::Bundle {
        origin: "test".into(),
        path: ca.display().to_string(),
    };
    let conf = block_on(
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(url)
            .credentials_provider(Creds::default().0)
            .http_client(secretexec::http::client(trust))
            .load(),
    );
    let client = aws_sdk_secretsmanager::Client::new(&conf);
    let out = block_on(
        client
            .create_secret()
            .name(name)
            .secret_string(value)
            .send(),
    )
    .unwrap_or_else(|e| panic!("create {name} over TLS: {e:?}"));
    out.arn().unwrap().to_string()
}

/// The endpoint of this test binary's moto_server, started on first use.
pub fn endpoint() -> String {
    let port = *MOTO_PORT.get_or_init(start_moto);
    format!("http://127.0.0.1:{port}")
}

/// `127.0.0.1:PORT` of moto, for the fault proxy.
pub fn moto_addr() -> String {
    endpoint().trim_start_matches("http://").to_string()
}

/// A fault proxy in front of this binary's moto.
pub fn proxy(script: Vec<proxy::Fault>, then: proxy::Fault) -> proxy::Proxy {
    proxy::Proxy::start(moto_addr(), script, then)
}

fn start_moto() -> u16 {
    start_in_thread(|| {
        spawn_moto(&[], &MOTO_PID, |port| {
            http_get(port, "/moto-api/").is_some()
        })
    })
}

/// Run `spawn` on a thread that never exits: PDEATHSIG fires when the
/// thread that forked exits.
fn start_in_thread(spawn: impl FnOnce() -> u16 + Send + 'static) -> u16 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tx.send(spawn()).unwrap();
        loop {
            std::thread::park();
        }
    });
    let port = rx.recv().unwrap();
    unsafe { libc::atexit(stop_moto) };
    port
}

fn spawn_moto(extra: &[String], pid: &AtomicI32, ready: impl Fn(u16) -> bool) -> u16 {
    for _ in 0..5 {
        let port = free_port();
        let mut cmd = Command::new("moto_server");
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .expect("moto_server not found: install it with pip install 'moto[server]'");
        pid.store(child.id() as i32, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break; // port taken between our probe and its bind: retry
            }
            if ready(port) {
                return port;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        pid.store(0, Ordering::SeqCst);
    }
    panic!("moto_server did not start");
}

/// A 127.0.0.1 port where connections are refused, held for as long as
/// the returned descriptor lives: bound but never listening, so no other
/// test can take it meanwhile (a port freed after probing could be).
pub fn refusing_port() -> (std::os::fd::OwnedFd, u16) {
    use std::os::fd::FromRawFd;
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(libc::bind(fd, (&raw const addr).cast(), len), 0);
        let mut len = len;
        assert_eq!(libc::getsockname(fd, (&raw mut addr).cast(), &mut len), 0);
        (
            std::os::fd::OwnedFd::from_raw_fd(fd),
            u16::from_be(addr.sin_port),
        )
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.starts_with("HTTP/1.").then_some(out)
}

// ------------------------------------------------------------- seeding

/// Static credentials in the default account, or a role's from STS.
#[derive(Clone)]
pub struct Creds(Credentials);

impl Default for Creds {
    fn default() -> Self {
        Creds(Credentials::new("testing", "testing", None, None, "test"))
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

async fn sdk_config(region: &str, creds: &Creds) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint())
        .credentials_provider(creds.0.clone())
        // The SDK crates are built without a default HTTP client; seeding
        // uses secretexec's own.
        .http_client(secretexec::http::client(secretexec::http::Trust::System))
        .load()
        .await
}

fn sm(region: &str, creds: &Creds) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&block_on(sdk_config(region, creds)))
}

pub enum Value<'a> {
    Text(&'a str),
    Bytes(&'a [u8]),
}

/// Create a secret; returns its ARN.
pub fn create(name: &str, value: Value) -> String {
    create_in("us-east-1", &Creds::default(), name, value)
}

pub fn create_in(region: &str, creds: &Creds, name: &str, value: Value) -> String {
    let client = sm(region, creds);
    let req = client.create_secret().name(name);
    let req = match value {
        Value::Text(s) => req.secret_string(s),
        Value::Bytes(b) => req.secret_binary(Blob::new(b)),
    };
    let out = block_on(req.send()).unwrap_or_else(|e| panic!("create {name}: {e:?}"));
    out.arn().unwrap().to_string()
}

/// Add a version with the given stages; returns its version id.
pub fn put_version(name: &str, value: &str, stages: &[&str]) -> String {
    let client = sm("us-east-1", &Creds::default());
    let mut req = client
        .put_secret_value()
        .secret_id(name)
        .secret_string(value);
    for s in stages {
        req = req.version_stages(*s);
    }
    let out = block_on(req.send()).unwrap_or_else(|e| panic!("put {name}: {e:?}"));
    out.version_id().unwrap().to_string()
}

fn ssm(region: &str, creds: &Creds) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&block_on(sdk_config(region, creds)))
}

/// Put an SSM parameter (`String`, `SecureString`, `StringList`) in
/// us-east-1, overwriting; returns its version.
pub fn put_parameter(name: &str, value: &str, kind: &str) -> i64 {
    put_parameter_in("us-east-1", &Creds::default(), name, value, kind)
}

pub fn put_parameter_in(region: &str, creds: &Creds, name: &str, value: &str, kind: &str) -> i64 {
    let req = ssm(region, creds)
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(kind.into())
        .overwrite(true);
    block_on(req.send())
        .unwrap_or_else(|e| panic!("put {name}: {e:?}"))
        .version()
}

/// Attach `label` to `version` of a parameter.
pub fn label_parameter(name: &str, version: i64, label: &str) {
    let req = ssm("us-east-1", &Creds::default())
        .label_parameter_version()
        .name(name)
        .parameter_version(version)
        .labels(label);
    block_on(req.send()).unwrap_or_else(|e| panic!("label {name}: {e:?}"));
}

/// Credentials of `role` from moto's STS; moto files what they create
/// under the role's account.
pub fn assume(role: &str) -> Creds {
    let conf = block_on(sdk_config("us-east-1", &Creds::default()));
    let sts = aws_sdk_sts::Client::new(&conf);
    let out = block_on(
        sts.assume_role()
            .role_arn(role)
            .role_session_name("seeder")
            .send(),
    )
    .unwrap();
    let c = out.credentials().unwrap();
    Creds(Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "test",
    ))
}

// ------------------------------------------------------------- files

/// A fresh, empty directory under the target dir, unique to this call.
pub fn tempdir(name: &str) -> std::path::PathBuf {
    use std::sync::atomic::AtomicU32;
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{}-{}-{}",
        name.replace('/', "_"),
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ------------------------------------------------------------- running

/// `secretexec [extra] -s NAME -- touch FLAG` through a fault proxy: the
/// outcome, and whether the command ran (the flag file exists).
pub fn run_through(p: &proxy::Proxy, name: &str, extra: &[&str]) -> (Out, bool) {
    let flag = tempdir(name).join("ran");
    let out = secretexec()
        .no_moto()
        .env("AWS_ENDPOINT_URL", p.endpoint())
        .args(extra)
        .args(["-s", name, "--", "touch"])
        .args([&flag])
        .run();
    let ran = flag.exists();
    (out, ran)
}

/// The command's environment when secretexec runs `env -0` with `args`.
pub fn env_of(args: &[&str]) -> BTreeMap<String, String> {
    secretexec()
        .args(args)
        .args(["--", "env", "-0"])
        .run()
        .env()
}

/// The real binary, with a scrubbed environment: nothing `AWS_*` or
/// `SECRETEXEC_*` leaks in from the developer's shell, the instance
/// metadata service is off, and the AWS config files are not read.
pub fn secretexec() -> Cmd {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        // Proxies and CA settings of the machine running the tests would
        // change where and how secretexec connects.
        let network = k.to_ascii_lowercase().ends_with("_proxy") || k.starts_with("SSL_CERT_");
        if k.starts_with("AWS_") || k.starts_with("SECRETEXEC_") || k == "RUST_BACKTRACE" || network
        {
            cmd.env_remove(&*k);
        }
    }
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .stdin(Stdio::null());
    Cmd { cmd, moto: true }
}

/// Make `cmd` run in a private mount namespace where `dir` is
/// /etc/ssl/certs (see [`Cmd::system_certs`]).
pub fn with_system_certs(cmd: &mut Command, dir: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    let dir = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
    unsafe {
        cmd.pre_exec(move || {
            let none = std::ptr::null();
            let ok = libc::unshare(libc::CLONE_NEWNS) == 0
                && libc::mount(
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    none,
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) == 0
                && libc::mount(
                    dir.as_ptr(),
                    c"/etc/ssl/certs".as_ptr(),
                    none,
                    libc::MS_BIND,
                    std::ptr::null(),
                ) == 0;
            if ok {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

pub struct Cmd {
    cmd: Command,
    moto: bool,
}

impl Cmd {
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<OsStr>) -> Self {
        self.cmd.env(k, v);
        self
    }

    /// Cap the address space, so that runaway memory fails the run.
    pub fn limit_memory(mut self, bytes: u64) -> Self {
        unsafe {
            self.cmd.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: bytes,
                    rlim_max: bytes,
                };
                libc::setrlimit(libc::RLIMIT_AS, &limit);
                Ok(())
            });
        }
        self
    }

    /// Run in a private mount namespace where `dir` is /etc/ssl/certs: the
    /// host's trust store as a test wants it, with no `SSL_*` variable
    /// (the default trust path of a Debian/Ubuntu host). Needs root, as CI
    /// has; anywhere else the spawn fails and says why.
    pub fn system_certs(mut self, dir: &std::path::Path) -> Self {
        with_system_certs(&mut self.cmd, dir);
        self
    }

    pub fn env_remove(mut self, k: &str) -> Self {
        self.cmd.env_remove(k);
        self
    }

    /// Do not point the SDK at moto (for tests that need no server, or
    /// bring their own endpoint).
    pub fn no_moto(mut self) -> Self {
        self.moto = false;
        self
    }

    /// Start in the background, stdout and stderr to these files.
    pub fn spawn(
        mut self,
        stdout: &std::path::Path,
        stderr: &std::path::Path,
    ) -> std::process::Child {
        if self.moto {
            self.cmd.env("AWS_ENDPOINT_URL", endpoint());
        }
        self.cmd
            .stdout(std::fs::File::create(stdout).unwrap())
            .stderr(std::fs::File::create(stderr).unwrap())
            .spawn()
            .unwrap()
    }

    pub fn run(mut self) -> Out {
        if self.moto {
            self.cmd.env("AWS_ENDPOINT_URL", endpoint());
        }
        let shown = format!("{:?}", self.cmd);
        let child = self
            .cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        Out {
            shown,
            pid,
            status: out.status,
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

pub struct Out {
    shown: String,
    pub pid: u32,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Out {
    fn fail(&self, why: &str) -> ! {
        panic!(
            "{why}\ncommand: {}\nstatus: {:?}\nstdout: {}\nstderr: {}",
            self.shown,
            self.status,
            String::from_utf8_lossy(&self.stdout),
            self.stderr
        );
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn code(&self, want: i32) -> &Self {
        if self.status.code() != Some(want) {
            self.fail(&format!("expected exit status {want}"));
        }
        self
    }

    pub fn ok(&self) -> &Self {
        self.code(0)
    }

    /// Exit 125 with one `secretexec:` line on stderr containing `want`.
    pub fn fails_with(&self, want: &str) -> &Self {
        self.code(125);
        // The throttling notice (said once, before the error) is not the error.
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.starts_with("secretexec: AWS is throttling these calls"))
            .collect();
        if lines.len() != 1 || !lines[0].starts_with("secretexec: ") || !lines[0].contains(want) {
            self.fail(&format!(
                "expected one 'secretexec:' line containing {want:?}"
            ));
        }
        self
    }

    pub fn stderr_has(&self, want: &str) -> &Self {
        if !self.stderr.contains(want) {
            self.fail(&format!("expected stderr to contain {want:?}"));
        }
        self
    }

    /// None of `values` appears in stdout or stderr.
    pub fn no_leak(&self, values: &[&str]) -> &Self {
        for v in values {
            let v = v.as_bytes();
            let hit = |hay: &[u8]| hay.windows(v.len()).any(|w| w == v);
            if hit(&self.stdout) || hit(self.stderr.as_bytes()) {
                self.fail(&format!(
                    "a planted value leaked: {:?}",
                    String::from_utf8_lossy(v)
                ));
            }
        }
        self
    }

    /// The child's environment, from `env -0` as the command.
    pub fn env(&self) -> BTreeMap<String, String> {
        self.ok();
        self.stdout
            .split(|&b| b == 0)
            .filter(|e| !e.is_empty())
            .map(|e| {
                let e = String::from_utf8_lossy(e);
                let (k, v) = e.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect()
    }
}
