//! `--files DIR`: each variable as a file, never in the command's
//! environment. `NAME` is written to `DIR/NAME` (a `SecretBinary` as its
//! raw bytes) and the command gets `NAME_FILE=DIR/NAME` instead, the
//! `_FILE` convention of the official postgres, mysql and many other
//! images. Values in the environment sit in `/proc/PID/environ`, are
//! inherited by every child and land in crash reports; files do not.
//!
//! Files are 0400 (0440 with `--files-group`), the directory 0700 (0750),
//! each written to a temporary file in the same directory and renamed into
//! place, so a reader sees the old value or the new one, never half. DIR
//! must be on tmpfs or ramfs (memory, never a disk) unless
//! `--files-on-disk`. A file secretexec did not write is never replaced:
//! the names it wrote are kept in `DIR/.secretexec`.

use std::ffi::{CString, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::libc;

use crate::env::SourceVars;
use crate::error::Error;

/// The names secretexec wrote into a directory, one per line.
const MANIFEST: &str = ".secretexec";
const TMPFS_MAGIC: i64 = 0x0102_1994;
const RAMFS_MAGIC: i64 = 0x8584_58f6;

#[derive(Debug, Clone)]
pub struct Options {
    pub dir: PathBuf,
    /// `--files-group GID`: files 0440 and the directory 0750, owned by it.
    pub group: Option<u32>,
    /// `--files-on-disk`: allow a directory that is not tmpfs or ramfs.
    pub on_disk: bool,
}

/// Each source's variables as the command will see them: `NAME_FILE` with
/// the path of `NAME`'s file. Pure, so the merge checks these names (a
/// `NAME_FILE` already set is an error as any other variable would be).
pub fn file_vars(opts: &Options, sources: &[SourceVars]) -> Vec<SourceVars> {
    sources
        .iter()
        .map(|s| SourceVars {
            label: s.label.clone(),
            vars: s
                .vars
                .iter()
                .map(|(name, _)| {
                    let path = opts.dir.join(name);
                    (format!("{name}_FILE"), path.to_string_lossy().into_owned())
                })
                .collect(),
            binary: false,
        })
        .collect()
}

/// The files written, to remove when the command ends (`--init`).
#[derive(Debug, Default)]
pub struct Written {
    dir: PathBuf,
    paths: Vec<PathBuf>,
    created_dir: bool,
}

impl Written {
    /// Remove every file written, the list of names, and the directory if
    /// secretexec created it. Best effort: the command has ended.
    pub fn remove(&self) {
        for path in &self.paths {
            let _ = std::fs::remove_file(path);
        }
        // Names another run wrote stay listed while their files are there.
        let kept: String = manifest(&self.dir)
            .into_iter()
            .filter(|n| self.dir.join(n).exists())
            .map(|n| format!("{n}\n"))
            .collect();
        let list = self.dir.join(MANIFEST);
        let _ = if kept.is_empty() {
            std::fs::remove_file(list)
        } else {
            replace(&list, kept.as_bytes(), None)
        };
        if self.created_dir {
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

/// Check the directory (creating it when missing) and that no name would
/// replace a file secretexec did not write; `--dry-run` stops here.
pub fn check(opts: &Options, sources: &[SourceVars]) -> Result<bool, Error> {
    let fail = |reason: String| Error::Files(format!("{}: {reason}", opts.dir.display()));
    let created = match std::fs::symlink_metadata(&opts.dir) {
        Ok(meta) if meta.is_dir() => false,
        Ok(_) => return Err(fail("not a directory".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&opts.dir)
                .map_err(|e| fail(format!("cannot create it: {e}")))?;
            true
        }
        Err(e) => return Err(fail(e.to_string())),
    };
    if !opts.on_disk {
        let kind = filesystem(&opts.dir).map_err(|e| fail(format!("cannot stat it: {e}")))?;
        if kind != TMPFS_MAGIC && kind != RAMFS_MAGIC {
            return Err(fail(
                "not on tmpfs or ramfs, so secret values would be written to a disk; \
                 use a memory filesystem (/dev/shm, /run) or pass --files-on-disk"
                    .into(),
            ));
        }
    }
    let mode = if opts.group.is_some() { 0o750 } else { 0o700 };
    if let Some(gid) = opts.group {
        chown_group(&opts.dir, gid)
            .map_err(|e| fail(format!("cannot give it to group {gid}: {e}")))?;
    }
    std::fs::set_permissions(&opts.dir, std::fs::Permissions::from_mode(mode))
        .map_err(|e| fail(format!("cannot make it {mode:o}: {e}")))?;
    let ours = manifest(&opts.dir);
    for (name, _) in sources.iter().flat_map(|s| &s.vars) {
        let path = opts.dir.join(name);
        if path.symlink_metadata().is_ok() && !ours.iter().any(|n| n == name) {
            return Err(Error::Files(format!(
                "{} exists and was not written by secretexec; it is never replaced",
                path.display()
            )));
        }
    }
    Ok(created)
}

/// Write every variable to its file: every value to a temporary file
/// first, then each renamed into place, so a failure before the renames
/// leaves the files as they were (a running command keeps its values). On
/// a first write (`first`), a failure removes what was written, and
/// nothing runs.
pub fn write(opts: &Options, sources: &[SourceVars], first: bool) -> Result<Written, Error> {
    let created_dir = check(opts, sources)?;
    let mut written = Written {
        dir: opts.dir.clone(),
        paths: Vec::new(),
        created_dir,
    };
    let mut names = manifest(&opts.dir);
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = (|| {
        for source in sources {
            for (name, value) in &source.vars {
                let bytes = if source.binary {
                    base64_simd::STANDARD
                        .decode_to_vec(value)
                        .map_err(|_| Error::Files(format!("{name}: not base64")))?
                } else {
                    value.clone().into_bytes()
                };
                let path = opts.dir.join(name);
                let tmp = stage(&path, &bytes, opts.group)
                    .map_err(|e| Error::Files(format!("cannot write {}: {e}", path.display())))?;
                staged.push((tmp, path));
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        let list: String = names.iter().map(|n| format!("{n}\n")).collect();
        let tmp = stage(&opts.dir.join(MANIFEST), list.as_bytes(), None)
            .map_err(|e| Error::Files(format!("cannot write {MANIFEST}: {e}")))?;
        staged.push((tmp, opts.dir.join(MANIFEST)));
        for (tmp, path) in staged.drain(..) {
            std::fs::rename(&tmp, &path).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                Error::Files(format!("cannot write {}: {e}", path.display()))
            })?;
            if !path.ends_with(MANIFEST) {
                written.paths.push(path);
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(written),
        Err(e) => {
            for (tmp, _) in staged {
                let _ = std::fs::remove_file(tmp);
            }
            if first {
                written.remove();
            }
            Err(e)
        }
    }
}

impl Written {
    /// Take in the files of a later write (a rotation), so cleanup removes
    /// them too.
    pub fn absorb(&mut self, later: Written) {
        for path in later.paths {
            if !self.paths.contains(&path) {
                self.paths.push(path);
            }
        }
    }
}

/// Write `bytes` to a new temporary file beside `path`; the caller renames
/// it over `path`, so a reader opens the old file or the new one, never a
/// half-written one.
fn stage(path: &Path, bytes: &[u8], group: Option<u32>) -> std::io::Result<PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    let mut tmp_name = OsString::from(".");
    tmp_name.push(&name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    let mode = if group.is_some() { 0o440 } else { 0o400 };
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have taken bits the group needs.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        if let Some(gid) = group {
            chown_group(&tmp, gid)?;
        }
        file.write_all(bytes)
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// [`stage`], then rename into place.
fn replace(path: &Path, bytes: &[u8], group: Option<u32>) -> std::io::Result<()> {
    let tmp = stage(path, bytes, group)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The names listed in `DIR/.secretexec`.
fn manifest(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join(MANIFEST))
        .map(|text| text.lines().map(String::from).collect())
        .unwrap_or_default()
}

fn c_path(path: &Path) -> std::io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in path"))
}

/// The filesystem type (`statfs`'s `f_type`) of `path`.
fn filesystem(path: &Path) -> std::io::Result<i64> {
    let path = c_path(path)?;
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(path.as_ptr(), &mut buf) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // f_type's width differs by platform
    Ok(buf.f_type as i64)
}

fn chown_group(path: &Path, gid: u32) -> std::io::Result<()> {
    let path = c_path(path)?;
    if unsafe { libc::chown(path.as_ptr(), u32::MAX, gid) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
