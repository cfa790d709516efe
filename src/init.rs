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
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, kill, sigaction};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, execve, fork, pipe, read, write};

use crate::error::Error;
use crate::exec;

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

extern "C" fn on_signal(signal: nix::libc::c_int) {
    let fd = PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        // write(2) is async-signal-safe; a full pipe only drops a duplicate.
        let byte = [signal as u8];
        let _ = write(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }, &byte);
    }
}

/// Run `command` as a child and supervise it; returns the exit status.
pub fn run(command: &[OsString], env: &[(OsString, OsString)]) -> Result<u8, Error> {
    let fail = |what: &str, e: Errno| Error::Init(format!("{what}: {}", e.desc()));
    let path = exec::resolve(command, env)?;
    let (argv, envp) = exec::c_args(command, env);
    let path = std::ffi::CString::new(path.into_os_string().into_encoded_bytes())
        .map_err(|_| Error::NotFound(command[0].to_string_lossy().into_owned()))?;

    // Orphaned grandchildren come to us even when we are not PID 1.
    nix::sys::prctl::set_child_subreaper(true).map_err(|e| fail("cannot become a subreaper", e))?;
    let (read_end, write_end) = pipe().map_err(|e| fail("cannot make a pipe", e))?;
    PIPE.store(
        std::os::fd::IntoRawFd::into_raw_fd(write_end),
        Ordering::Relaxed,
    );
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in FORWARDED.iter().chain([&Signal::SIGCHLD]) {
        unsafe { sigaction(*signal, &action) }.map_err(|e| fail("cannot install a handler", e))?;
    }

    // Only async-signal-safe work between fork and exec: everything the
    // child needs was built above. execve resets caught signals to default.
    let child = match unsafe { fork() }.map_err(|e| fail("cannot fork", e))? {
        ForkResult::Child => {
            let Err(errno) = execve(&path, &argv, &envp);
            // 126 as a real run would report; nothing else is safe to do.
            unsafe { nix::libc::_exit(if errno == Errno::ENOENT { 127 } else { 126 }) }
        }
        ForkResult::Parent { child } => child,
    };

    let mut byte = [0u8; 1];
    loop {
        match read(&read_end, &mut byte) {
            Ok(1) => {}
            Ok(_) => return Err(Error::Init("the signal pipe closed".into())),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(fail("cannot read the signal pipe", e)),
        }
        match Signal::try_from(i32::from(byte[0])) {
            Ok(Signal::SIGCHLD) => {
                if let Some(status) = reap(child) {
                    return Ok(status);
                }
            }
            Ok(signal) => {
                // The child may already be gone; its SIGCHLD is on its way.
                let _ = kill(child, signal);
            }
            Err(_) => {}
        }
    }
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
