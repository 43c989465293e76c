//! `--pid-file`: written the way runc writes it, never through a path
//! someone else may have prepared. The directory is opened once; a new
//! temporary file is made in it with `O_CREAT|O_EXCL|O_NOFOLLOW` (an
//! existing file or a planted symlink makes it fail instead of being
//! followed or truncated), filled, then renamed over the pid file in the
//! same directory (`renameat` replaces a symlink there, never its target).

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{OciError, Res};

/// Write `pid` (decimal, no newline, as runc) to `path`.
pub fn write(path: &Path, pid: i32) -> Res<()> {
    let err = |op: &str, e: std::io::Error| OciError::io(op, path, e);
    let name = path.file_name().filter(|n| !n.is_empty()).ok_or_else(|| {
        OciError::Usage(format!("--pid-file {}: not a file name", path.display()))
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let dir = open_dir(dir).map_err(|e| err("open the directory of the pid file", e))?;
    let target = c(name.as_bytes())?;
    // SAFETY: trivial getter.
    let me = unsafe { libc::getpid() };
    for attempt in 0..16 {
        let mut tmp = b".".to_vec();
        tmp.extend_from_slice(name.as_bytes());
        tmp.extend_from_slice(format!(".{me}.{attempt}.tmp").as_bytes());
        let tmp = c(&tmp)?;
        let f = match create_excl(&dir, &tmp) {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
            Err(e) => return Err(err("create a temporary file beside the pid file", e)),
        };
        let written = std::fs::File::from(f).write_all(pid.to_string().as_bytes());
        // SAFETY: renameat/unlinkat on C strings, both relative to our dir fd.
        let renamed = written.and_then(|()| unsafe {
            if libc::renameat(
                dir.as_raw_fd(),
                tmp.as_ptr(),
                dir.as_raw_fd(),
                target.as_ptr(),
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
        if let Err(e) = renamed {
            // SAFETY: as above.
            unsafe { libc::unlinkat(dir.as_raw_fd(), tmp.as_ptr(), 0) };
            return Err(err("write the pid file", e));
        }
        return Ok(());
    }
    Err(OciError::io(
        "pid file",
        path,
        std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "16 temporary names in its directory are taken",
        ),
    ))
}

fn c(b: &[u8]) -> Res<CString> {
    CString::new(b).map_err(|_| OciError::Usage("--pid-file: the path contains a NUL byte".into()))
}

fn open_dir(dir: &Path) -> std::io::Result<OwnedFd> {
    let p = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: open on a valid C string; the fd is ours.
    let fd = unsafe {
        libc::open(
            p.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn create_excl(dir: &OwnedFd, name: &CString) -> std::io::Result<OwnedFd> {
    // SAFETY: openat on our dir fd and a one-component C string.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o644,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "rsandbox-oci-pidfile-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        d
    }

    #[test]
    fn writes_and_replaces() {
        let d = scratch("plain");
        let p = d.join("c.pid");
        write(&p, 42).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "42");
        write(&p, 43).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "43");
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            1,
            "a temp file was left"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn planted_symlinks_are_never_followed() {
        let d = scratch("links");
        let victim = d.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        // The pid file itself a symlink: replaced, the victim untouched.
        let p = d.join("c.pid");
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        // Every temporary name a symlink to the victim too.
        let me = std::process::id();
        for i in 0..16 {
            std::os::unix::fs::symlink(&victim, d.join(format!(".c.pid.{me}.{i}.tmp"))).unwrap();
        }
        let e = write(&p, 7).unwrap_err().to_string();
        assert!(e.contains("taken"), "{e}");
        for i in 1..16 {
            std::fs::remove_file(d.join(format!(".c.pid.{me}.{i}.tmp"))).unwrap();
        }
        write(&p, 7).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!std::fs::symlink_metadata(&p)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "7");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
