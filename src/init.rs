//! `--init`: for container entrypoints whose program is not safe as PID 1.
//!
//! Instead of becoming the command, secretexec starts it as a child,
//! forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to it,
//! reaps every zombie that is reparented to it (as PID 1, or as a child
//! subreaper otherwise), and exits with the child's status, 128+N when a
//! signal N killed it: the duties of tini or `docker run --init`.
//!
//! Signals are caught by a handler that writes their number to a pipe,
//! rather than blocked and taken with `sigwait`: threads the async runtime
//! left behind do not block them, and a blocked-elsewhere signal delivered
//! to such a thread would take its default action and kill us.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::{
    SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, kill, pthread_sigmask, sigaction,
};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, read, write};

use crate::error::Error;
use crate::exec::{Failure, Program};

const FORWARDED: [Signal; 6] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// The write end of the signal pipe, for the handler.
static PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signal: libc::c_int) {
    let fd = PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        // write(2) is async-signal-safe; a full pipe only drops a duplicate.
        let byte = [signal as u8];
        let _ = write(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }, &byte);
    }
}

/// A pipe whose ends close on exec, so neither reaches the command.
fn cloexec_pipe() -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [0; 2];
    Errno::result(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `--watch`: how often to check, and what to do when a check finds a new
/// value. The check itself is the caller's (this module never knows where
/// values come from): `Ok(None)` nothing changed, `Ok(Some(env))` the new
/// environment, every rule of a start checked; `Err` a failed check, which
/// leaves the command alone.
pub struct Watch<'a> {
    pub interval: Duration,
    pub on_change: OnChange,
    pub stop_signal: Signal,
    pub stop_timeout: Duration,
    pub check: &'a mut dyn FnMut() -> Result<Option<Env>, Error>,
}

/// A child's environment.
pub type Env = Vec<(OsString, OsString)>;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OnChange {
    /// Stop the command (stop signal, then SIGKILL after the timeout) and
    /// start it again with the new environment.
    Restart,
    /// Send this signal (the caller rewrote the files first).
    Signal(Signal),
    /// Stop the command and exit with [`EXIT_CHANGED`].
    Exit,
}

/// The exit status of `--on-change exit` (EX_TEMPFAIL: try again), so the
/// orchestrator starts a new container with the new values.
pub const EXIT_CHANGED: u8 = 75;

/// What the handlers and the child share: the signals we catch and the
/// dispositions and mask to give back to each child.
struct Supervisor {
    read_end: OwnedFd,
    previous: Vec<(Signal, SigAction)>,
}

/// Run `command` as a child and supervise it; returns the exit status.
pub fn run(command: &[OsString], env: &[(OsString, OsString)]) -> Result<u8, Error> {
    supervise(command, env.to_vec(), None)
}

/// `--init`, and with `watch` its checks and restarts.
pub fn supervise(command: &[OsString], env: Env, mut watch: Option<Watch>) -> Result<u8, Error> {
    let sup = Supervisor::install()?;
    let mut child = sup.spawn(command, &env)?;
    let mut next_check = watch
        .as_ref()
        .map(|w| Instant::now() + jittered(w.interval));
    // While a restart or exit waits for the old child: when SIGKILL is due,
    // and the environment to start with (None: exit).
    let mut stopping: Option<(Instant, Option<Env>)> = None;
    loop {
        let deadline = match (&stopping, next_check) {
            (Some((kill_at, _)), _) => Some(*kill_at),
            (None, next) => next,
        };
        match sup.wait_signal(deadline)? {
            Some(Signal::SIGCHLD) => {
                let Some(status) = reap(child) else { continue };
                match stopping.take() {
                    None => return Ok(status),
                    Some((_, None)) => return Ok(EXIT_CHANGED),
                    Some((_, Some(new_env))) => {
                        child = sup.spawn(command, &new_env)?;
                        if let (Some(w), Some(next)) = (&watch, next_check.as_mut()) {
                            *next = Instant::now() + jittered(w.interval);
                        }
                    }
                }
            }
            // The child may already be gone; its SIGCHLD is on its way.
            Some(signal) => {
                let _ = kill(child, signal);
            }
            None if stopping.is_some() => {
                // The stop timeout ran out.
                let _ = kill(child, Signal::SIGKILL);
                if let Some((kill_at, _)) = stopping.as_mut() {
                    *kill_at = Instant::now() + Duration::from_secs(3600);
                }
            }
            None => {
                let Some(w) = watch.as_mut() else { continue };
                next_check = Some(Instant::now() + jittered(w.interval));
                match (w.check)() {
                    Ok(None) => {}
                    Ok(Some(new_env)) => match w.on_change {
                        OnChange::Signal(signal) => {
                            let _ = kill(child, signal);
                        }
                        mode => {
                            let _ = kill(child, w.stop_signal);
                            let then = (mode == OnChange::Restart).then_some(new_env);
                            stopping = Some((Instant::now() + w.stop_timeout, then));
                        }
                    },
                    Err(e) => eprintln!(
                        "secretexec: --watch: {}; the command keeps running, next check in about {}",
                        crate::error::escape_controls(&e.to_string()),
                        crate::cli::format_duration(w.interval)
                    ),
                }
            }
        }
    }
}

/// `interval` plus up to 10 % of it, so a fleet started together does not
/// poll in step.
fn jittered(interval: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    interval + interval.mul_f64((random % 1000) as f64 / 10_000.0)
}

impl Supervisor {
    fn install() -> Result<Supervisor, Error> {
        // Orphaned grandchildren come to us even when we are not PID 1.
        // Best effort: where the call is missing (qemu-user, which runs
        // arm64 images on x86-64 hosts, answers EINVAL) they go to the
        // system's init instead, which reaps them too.
        let _ = nix::sys::prctl::set_child_subreaper(true);
        let (read_end, write_end) = cloexec_pipe().map_err(|e| fail("cannot make a pipe", e))?;
        PIPE.store(
            std::os::fd::IntoRawFd::into_raw_fd(write_end),
            Ordering::Relaxed,
        );
        let action = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        let mut previous = Vec::with_capacity(FORWARDED.len() + 1);
        for signal in FORWARDED.iter().chain([&Signal::SIGCHLD]) {
            let old = unsafe { sigaction(*signal, &action) }
                .map_err(|e| fail("cannot install a handler", e))?;
            previous.push((*signal, old));
        }
        Ok(Supervisor { read_end, previous })
    }

    /// Start the command as a child with `env`.
    fn spawn(&self, command: &[OsString], env: &[(OsString, OsString)]) -> Result<Pid, Error> {
        let mut program = Program::new(command, env);
        // The child learns why its exec failed through this one; it closes
        // unread when the exec succeeds.
        let (status_read, status_write) =
            cloexec_pipe().map_err(|e| fail("cannot make a pipe", e))?;
        // Every signal is held across fork until the child has put back the
        // dispositions and mask we were started with (a handler of ours, or
        // SIG_DFL where the caller ignored a signal, must not reach it), as
        // posix_spawn does.
        let mut mask = SigSet::empty();
        pthread_sigmask(
            SigmaskHow::SIG_SETMASK,
            Some(&SigSet::all()),
            Some(&mut mask),
        )
        .map_err(|e| fail("cannot block signals", e))?;
        // Only async-signal-safe work between fork and exec: everything the
        // child needs was built above.
        let forked = unsafe { fork() };
        if let Ok(ForkResult::Child) = forked {
            for (signal, old) in &self.previous {
                let _ = unsafe { sigaction(*signal, old) };
            }
            let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&mask), None);
            let failure = program.exec();
            let _ = write(&status_write, &failure.encode());
            unsafe { libc::_exit(failure.exit_code()) }
        }
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&mask), None);
        let child = match forked.map_err(|e| fail("cannot fork", e))? {
            ForkResult::Parent { child } => child,
            ForkResult::Child => unreachable!("the child has exec'd or exited"),
        };
        drop(status_write);
        let mut why = [0u8; 5];
        if read_full(&status_read, &mut why) == why.len() {
            let _ = waitpid(child, None);
            return Err(program.error(Failure::decode(why)));
        }
        Ok(child)
    }

    /// The next signal caught, or `None` when `deadline` passes first.
    fn wait_signal(&self, deadline: Option<Instant>) -> Result<Option<Signal>, Error> {
        loop {
            let timeout = match deadline {
                None => -1,
                Some(at) => {
                    let left = at.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    // Round up, so the deadline has passed on waking.
                    i32::try_from(left.as_millis() + 1).unwrap_or(i32::MAX)
                }
            };
            let mut fds = [libc::pollfd {
                fd: self.read_end.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, timeout) };
            if n < 0 {
                match Errno::last() {
                    Errno::EINTR => continue,
                    e => return Err(fail("cannot wait for signals", e)),
                }
            }
            if n == 0 {
                continue;
            }
            let mut byte = [0u8; 1];
            match read(&self.read_end, &mut byte) {
                Ok(1) => {}
                Ok(_) => return Err(Error::Init("the signal pipe closed".into())),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(fail("cannot read the signal pipe", e)),
            }
            if let Ok(signal) = Signal::try_from(i32::from(byte[0])) {
                return Ok(Some(signal));
            }
        }
    }
}

fn fail(what: &str, e: Errno) -> Error {
    Error::Init(format!("{what}: {}", e.desc()))
}

/// Read until `buf` is full or the pipe closes; how many bytes came.
fn read_full(fd: &OwnedFd, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        match read(fd, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    got
}

/// Reap every child that has exited; the main child's status once it has.
fn reap(main: Pid) -> Option<u8> {
    let mut status = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == main => status = Some(code as u8),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == main => {
                status = Some(128u8.wrapping_add(signal as u8))
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return status,
            Ok(_) => {}
        }
    }
}
