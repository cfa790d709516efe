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
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

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

/// Run `command` as a child and supervise it; returns the exit status.
pub fn run(command: &[OsString], env: &[(OsString, OsString)]) -> Result<u8, Error> {
    let fail = |what: &str, e: Errno| Error::Init(format!("{what}: {}", e.desc()));
    let mut program = Program::new(command, env);

    // Orphaned grandchildren come to us even when we are not PID 1.
    nix::sys::prctl::set_child_subreaper(true).map_err(|e| fail("cannot become a subreaper", e))?;
    let (read_end, write_end) = cloexec_pipe().map_err(|e| fail("cannot make a pipe", e))?;
    PIPE.store(
        std::os::fd::IntoRawFd::into_raw_fd(write_end),
        Ordering::Relaxed,
    );
    // The child learns why its exec failed through this one; it closes
    // unread when the exec succeeds.
    let (status_read, status_write) = cloexec_pipe().map_err(|e| fail("cannot make a pipe", e))?;
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
        for (signal, old) in &previous {
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
    drop(status_read);

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
