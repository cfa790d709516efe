//! Reliability and security under faults, load and hostile input, proven
//! on the real binary: a fault must never start a job with a partial
//! environment, hang it, or leak a value.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::proxy::{Fault, Proxy};
use common::{BIN, Value, create, moto_addr, proxy, run_through, secretexec, tempdir};

const PLANTED: &str = "PLANTED-reliability";

fn transient_faults() -> Vec<(&'static str, Fault)> {
    vec![
        ("http-500", Fault::Error(500, "InternalServiceError")),
        ("http-503", Fault::Error(503, "ServiceUnavailable")),
        ("throttling", Fault::Error(400, "ThrottlingException")),
        (
            "too-many-requests",
            Fault::Error(400, "TooManyRequestsException"),
        ),
        ("reset", Fault::Reset),
        ("truncated", Fault::Truncate),
    ]
}

// ------------------------------------------------------------ faults

#[test]
fn transient_faults_are_retried_and_the_run_succeeds_when_they_clear() {
    std::thread::scope(|scope| {
        for (kind, fault) in transient_faults() {
            scope.spawn(move || {
                let name = format!("transient/{kind}");
                create(&name, Value::Text(&format!(r#"{{"T_VAR": "{PLANTED}"}}"#)));
                let p = proxy(vec![fault.clone(), fault], Fault::Forward);
                let out = secretexec()
                    .no_moto()
                    .env("AWS_ENDPOINT_URL", p.endpoint())
                    .args(["-s", &name, "--", "env", "-0"])
                    .run();
                assert_eq!(out.env()["T_VAR"], PLANTED, "{kind}");
                assert_eq!(p.requests(), 3, "{kind}: two faults, then success");
            });
        }
    });
}

#[test]
fn transient_faults_that_never_clear_fail_closed() {
    std::thread::scope(|scope| {
        for (kind, fault) in transient_faults() {
            scope.spawn(move || {
                let name = format!("persistent/{kind}");
                create(&name, Value::Text(&format!(r#"{{"T_VAR": "{PLANTED}"}}"#)));
                let p = proxy(vec![], fault);
                let started = Instant::now();
                let (out, ran) = run_through(&p, &name, &[]);
                out.fails_with(&format!("source '{name}': "))
                    .no_leak(&[PLANTED]);
                assert!(!ran, "{kind}: the command ran");
                assert_eq!(p.requests(), 8, "{kind}: the retry budget is 8 tries");
                // Bounded by the retry budget, well inside --timeout.
                assert!(started.elapsed() < Duration::from_secs(25), "{kind}");
            });
        }
    });
}

#[test]
fn permanent_errors_and_bad_bodies_fail_at_once() {
    let cases = [
        (
            "not-found",
            Fault::Error(400, "ResourceNotFoundException"),
            "ResourceNotFoundException",
        ),
        (
            "denied",
            Fault::Error(400, "AccessDeniedException"),
            "AccessDeniedException",
        ),
        (
            "kms",
            Fault::Error(400, "DecryptionFailure"),
            "DecryptionFailure",
        ),
        (
            "non-json",
            Fault::Raw(
                200,
                "application/x-amz-json-1.1",
                format!("<html>{PLANTED}</html>"),
            ),
            "unreadable response from AWS (HTTP 200)",
        ),
        (
            "cut-json",
            Fault::Raw(
                200,
                "application/x-amz-json-1.1",
                format!(r#"{{"SecretString": "{PLANTED}"#),
            ),
            "unreadable response from AWS (HTTP 200)",
        ),
    ];
    for (kind, fault, want) in cases {
        let name = format!("permanent/{kind}");
        create(&name, Value::Text(&format!(r#"{{"T_VAR": "{PLANTED}"}}"#)));
        let p = proxy(vec![], fault);
        let (out, ran) = run_through(&p, &name, &[]);
        out.fails_with(want).no_leak(&[PLANTED]);
        assert!(!ran, "{kind}");
        assert_eq!(p.requests(), 1, "{kind}: not retried");
    }
}

#[test]
fn a_stall_ends_at_the_timeout() {
    create(
        "stall/db",
        Value::Text(&format!(r#"{{"T_VAR": "{PLANTED}"}}"#)),
    );
    // Which of two concurrent calls is forwarded is a race: both exist.
    create(
        "stall/other",
        Value::Text(&format!(r#"{{"T_OTHER": "{PLANTED}"}}"#)),
    );
    for script in [vec![], vec![Fault::Forward]] {
        // The second case: config and a first call fine, then a stall on a
        // second source.
        let p = proxy(script.clone(), Fault::Stall);
        let started = Instant::now();
        let dir = tempdir("stall");
        let flag = dir.join("ran");
        let out = secretexec()
            .no_moto()
            .env("AWS_ENDPOINT_URL", p.endpoint())
            .args(["--timeout", "2s", "-s", "stall/db"])
            .args(if script.is_empty() {
                vec![]
            } else {
                vec!["-s", "stall/other"]
            })
            .args(["--", "touch"])
            .args([&flag])
            .run();
        out.fails_with("timed out after 2s waiting for")
            .no_leak(&[PLANTED]);
        assert!(!flag.exists());
        // A generous margin: the point is that it ends, not how fast.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    }
}

// ------------------------------------------------------------ no credentials, no region

/// A metadata endpoint that accepts and never answers, as 169.254.169.254
/// behaves off EC2 (connections go nowhere).
fn black_hole() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().flatten() {
            held.push(c);
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[test]
fn no_credentials_or_region_fails_fast_even_with_instance_metadata_on() {
    let imds = black_hole();
    let cases = [
        (
            "AWS_ACCESS_KEY_ID",
            "no AWS credentials found",
            "AWS_PROFILE",
        ),
        ("AWS_REGION", "no AWS region", "--region"),
    ];
    for (unset, want, hint) in cases {
        let started = Instant::now();
        secretexec()
            .env_remove(unset)
            .env_remove("AWS_EC2_METADATA_DISABLED")
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds)
            .args(["-s", "nocreds/any", "--", "true"])
            .run()
            .fails_with(want)
            .stderr_has(hint);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(10), "{unset}: {took:?}");
    }
}

// ------------------------------------------------------------ no leaks

#[test]
fn no_error_path_leaks_a_value() {
    // Every planted value carries this marker; the command is `true` or a
    // command that would print its environment.
    let m = "PLANTED-leak";
    let json = |k: &str| format!(r#"{{"{k}": "{m}-{k}"}}"#);
    create("leak/ok", Value::Text(&json("LEAK_OK")));
    create("leak/ok2", Value::Text(&json("LEAK_OK")));
    create("leak/not-json", Value::Text(&format!("{m}-text")));
    create("leak/bad-json", Value::Text(&format!(r#"{{"A": "{m}"#)));
    create("leak/bad-key", Value::Text(&format!(r#"{{"A B": "{m}"}}"#)));
    create(
        "leak/dup",
        Value::Text(&format!(r#"{{"A": "{m}1", "A": "{m}2"}}"#)),
    );
    create(
        "leak/refused",
        Value::Text(&format!(r#"{{"LD_PRELOAD": "{m}"}}"#)),
    );
    create("leak/nul", Value::Text(&format!(r#"{{"A": "{m}\u0000"}}"#)));
    create(
        "leak/existing",
        Value::Text(&format!(r#"{{"HOME": "{m}"}}"#)),
    );
    let throttle = proxy(vec![], Fault::Error(400, "ThrottlingException"));
    let denied = proxy(vec![], Fault::Error(400, "AccessDeniedException"));
    let stall = proxy(vec![], Fault::Stall);
    let garbage = proxy(
        vec![],
        Fault::Raw(
            200,
            "application/x-amz-json-1.1",
            format!(r#"{{"SecretString":"{m}"#),
        ),
    );
    let cases: Vec<(Vec<&str>, Option<&Proxy>)> = vec![
        (vec!["-s", "leak/missing"], None),
        (vec!["-s", "leak/ok"], Some(&denied)),
        (vec!["-s", "leak/not-json"], None),
        (vec!["-s", "leak/bad-json"], None),
        (vec!["-s", "leak/bad-key"], None),
        (vec!["-s", "leak/dup"], None),
        (vec!["-s", "leak/ok", "-s", "leak/ok2"], None),
        (vec!["-s", "leak/refused"], None),
        (vec!["-s", "leak/nul"], None),
        (vec!["-s", "leak/existing"], None),
        (vec!["--timeout", "1s", "-s", "leak/ok"], Some(&stall)),
        (vec!["-s", "leak/ok"], Some(&throttle)),
        (vec!["-s", "leak/ok"], Some(&garbage)),
        (vec!["-v", "-s", "leak/ok", "-s", "leak/missing"], None),
        (vec!["--dry-run", "-v", "-s", "leak/ok"], None),
        (vec!["--dry-run", "-s", "leak/ok", "-s", "leak/ok2"], None),
    ];
    for (args, via) in &cases {
        let mut cmd = secretexec().args(args);
        if let Some(p) = via {
            cmd = cmd.no_moto().env("AWS_ENDPOINT_URL", p.endpoint());
        }
        let out = cmd
            .args(if args.contains(&"--dry-run") {
                vec![]
            } else {
                vec!["--", "true"]
            })
            .run();
        out.no_leak(&[m]);
        assert!(out.status.code().is_some(), "{args:?}");
    }
    // A successful verbose run: stderr is ours, and names only.
    let out = secretexec()
        .args(["-v", "-s", "leak/ok", "--", "true"])
        .run();
    out.ok().no_leak(&[m]);
    // Values go to the command by its environment, never its argv.
    let out = secretexec()
        .args([
            "-s",
            "leak/ok",
            "--",
            "sh",
            "-c",
            "tr '\\0' ' ' < /proc/$$/cmdline",
        ])
        .run();
    out.ok().no_leak(&[m]);
}

// ------------------------------------------------------------ signals

#[test]
fn signals_reach_the_command_and_a_signal_death_is_reported_as_such() {
    create("signals/db", Value::Text(r#"{"SIG_VAR": "x"}"#));
    for (signal, name) in [(libc::SIGTERM, "TERM"), (libc::SIGINT, "INT")] {
        let script = format!(
            "trap 'echo got-{name}; exit 7' {name}; echo ready; while :; do sleep 0.05; done"
        );
        let mut child = Command::new(BIN)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", common::endpoint())
            .args(["-s", "signals/db", "--", "sh", "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n", "{name}");
        // The PID we started is the command now: signal it directly.
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = child.wait().unwrap();
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, format!("got-{name}\n"));
        assert_eq!(status.code(), Some(7), "{name}");
    }
    // Killed by a signal: the parent sees a signal death, and a shell
    // reports 128+N.
    let out = secretexec()
        .no_moto()
        .args(["--", "sh", "-c", "kill -KILL $$"])
        .run();
    assert_eq!(out.status.signal(), Some(libc::SIGKILL));
    let shell = Command::new("sh")
        .args(["-c", &format!("'{BIN}' -- sh -c 'kill -TERM $$'; echo $?")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&shell.stdout), "143\n");
}

// ------------------------------------------------------------ load

#[test]
fn a_hundred_and_twenty_runs_at_once_succeed_exactly_or_fail_closed() {
    const RUNS: usize = 120;
    for i in 0..4 {
        create(
            &format!("load/s{i}"),
            Value::Text(&format!(
                r#"{{"LOAD_{i}": "{PLANTED}-{i}", "LOAD_N_{i}": {i}}}"#
            )),
        );
    }
    // One request in five throttled, one in thirteen a 503.
    let mut cycle = vec![Fault::Forward; 65];
    for i in (0..65).step_by(5) {
        cycle[i] = Fault::Error(400, "ThrottlingException");
    }
    cycle[7] = Fault::Error(503, "ServiceUnavailable");
    cycle[33] = Fault::Error(503, "ServiceUnavailable");
    let p = Proxy::start_cycle(moto_addr(), vec![], cycle);
    let dir = tempdir("load");
    let started = Instant::now();
    let mut children = Vec::new();
    for run in 0..RUNS {
        let flag = dir.join(format!("ran-{run}"));
        let child = Command::new(BIN)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", p.endpoint())
            .env("FLAG", &flag)
            .args(["--timeout", "60s"])
            .args([
                "-s", "load/s0", "-s", "load/s1", "-s", "load/s2", "-s", "load/s3",
            ])
            .args(["--", "sh", "-c", "env -0 > \"$FLAG\""])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        children.push((Instant::now(), child, flag));
    }
    let mut times = Vec::new();
    let mut failures = Vec::new();
    for (spawned, mut child, flag) in children {
        // None may hang: a hard bound far above --timeout.
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                panic!("a run hung");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        times.push(spawned.elapsed());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(!stderr.contains(PLANTED), "{stderr}");
        if status.success() {
            let env: BTreeMap<String, String> = std::fs::read(&flag)
                .unwrap()
                .split(|&b| b == 0)
                .filter(|e| !e.is_empty())
                .filter_map(|e| {
                    let e = String::from_utf8_lossy(e).into_owned();
                    e.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                })
                .collect();
            for i in 0..4 {
                assert_eq!(env[&format!("LOAD_{i}")], format!("{PLANTED}-{i}"));
                assert_eq!(env[&format!("LOAD_N_{i}")], i.to_string());
            }
        } else {
            assert_eq!(status.code(), Some(125), "{stderr}");
            assert!(!flag.exists(), "a failed run started its command");
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            failures.push(stderr);
        }
    }
    times.sort();
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    eprintln!(
        "load: {RUNS} runs x 4 sources, {} requests through the proxy, {} failed closed, \
         p50 {:?}, p99 {:?}, max {:?}, all done in {:?}",
        p.requests(),
        failures.len(),
        pct(50),
        pct(99),
        times[times.len() - 1],
        started.elapsed()
    );
    // Throttling clears between tries, so the retry budget absorbs it.
    assert!(failures.len() < RUNS / 10, "{failures:?}");
}

// ------------------------------------------------------------ hostile values

/// Run with an address-space cap, so runaway memory is a failure here.
fn capped() -> common::Cmd {
    secretexec().limit_memory(1 << 30)
}

#[test]
fn hostile_values_give_variables_or_clear_errors() {
    let big = "x".repeat(64 * 1024 - 16);
    create(
        "hostile/64k",
        Value::Text(&format!(r#"{{"BIG": "{big}"}}"#)),
    );
    let env = capped()
        .args(["-s", "hostile/64k", "--", "env", "-0"])
        .run()
        .env();
    assert_eq!(env["BIG"].len(), big.len());

    let mut many = String::from("{");
    for i in 0..10_000 {
        many.push_str(&format!("{}\"K{i}\":\"{i}\"", if i > 0 { "," } else { "" }));
    }
    many.push('}');
    let dir = tempdir("hostile");
    let many_path = dir.join("many.json");
    std::fs::write(&many_path, &many).unwrap();
    let out = capped()
        .no_moto()
        .args([
            "-s",
            &format!("file:{}", many_path.display()),
            "--",
            "env",
            "-0",
        ])
        .run();
    let env = out.env();
    assert_eq!(env["K0"], "0");
    assert_eq!(env["K9999"], "9999");
    assert_eq!(env.keys().filter(|k| k.starts_with('K')).count(), 10_000);

    // Nesting as deep as a 64 KiB secret allows: the value is skipped as
    // raw text, never recursed into, so it arrives exactly.
    let deep = format!(
        r#"{{"DEEP": {}1{}}}"#,
        "[".repeat(30_000),
        "]".repeat(30_000)
    );
    create("hostile/deep", Value::Text(&deep));
    let env = capped()
        .args(["-s", "hostile/deep", "--", "env", "-0"])
        .run()
        .env();
    assert_eq!(env["DEEP"].len(), 60_001);
    // In a spec, where options are parsed, depth is bounded with a clear error.
    let nested_option = format!(
        r#"{{"id": "x", "options": {{"json": {}1{}}}}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    capped()
        .no_moto()
        .args(["-s", &nested_option, "--", "true"])
        .run()
        .fails_with("option 'json' must be true or false");

    common::create(
        "hostile/binary",
        Value::Bytes(&[0xff, 0xfe, 0x00, 0xc3, 0x28, b'=', b'\n']),
    );
    let env = capped()
        .args([
            "-s",
            r#"{"id": "hostile/binary", "options": {"json": false, "env_var_name": "BIN"}}"#,
        ])
        .args(["--", "env", "-0"])
        .run()
        .env();
    assert_eq!(env["BIN"], "//4Awyg9Cg==");
    // With json (the default), still one base64 variable, as in Metaflow.
    let env = capped()
        .args(["-s", "hostile/binary", "--", "env", "-0"])
        .run()
        .env();
    assert_eq!(env["hostile_binary"], "//4Awyg9Cg==");

    let huge = format!("1{}", "0".repeat(5000));
    create(
        "hostile/numbers",
        Value::Text(&format!(
            r#"{{"HUGE": {huge}, "NEG": -0.0e-999, "F": 1e308}}"#
        )),
    );
    let env = capped()
        .args(["-s", "hostile/numbers", "--", "env", "-0"])
        .run()
        .env();
    assert_eq!(env["HUGE"], huge);
    assert_eq!(env["NEG"], "-0.0e-999");
    assert_eq!(env["F"], "1e308");

    for (name, key, want) in [
        ("hostile/key-eq", "A=B", "key 'A=B'"),
        ("hostile/key-nul", "A\\u0000B", "key 'A\\0B'"),
        ("hostile/key-unicode", "ключ", "key 'ключ'"),
        ("hostile/key-empty", "", "key ''"),
    ] {
        create(name, Value::Text(&format!(r#"{{"{key}": "{PLANTED}"}}"#)));
        capped()
            .args(["-s", name, "--", "true"])
            .run()
            .fails_with(want)
            .no_leak(&[PLANTED]);
    }
}
