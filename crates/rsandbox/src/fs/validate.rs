//! Everything a user can get wrong in the filesystem configuration, checked
//! in the parent before anything is spawned. Errors name the path at fault.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{effective_steps, normalize, FsConfig, MountStep};
use crate::error::{Error, Result};
use crate::ns::Namespace;
use crate::sys::mount::{openat2, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};
use crate::Sandbox;

/// What an existing path in the new root is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    Other,
}

fn has_nul(p: &Path) -> bool {
    p.as_os_str().as_bytes().contains(&0)
}

/// Validate the filesystem configuration (called before anything is spawned).
pub(crate) fn validate(sb: &Sandbox) -> Result<()> {
    if !super::builds_fs(sb) {
        if sb.fs != FsConfig::default() {
            return Err(Error::invalid(
                "fs",
                "rootfs and mount steps need a mount namespace: add mount_ns()",
            ));
        }
        return Ok(());
    }
    let root = match &sb.fs.rootfs {
        Some(r) => {
            if has_nul(r) {
                return Err(Error::invalid("rootfs", "path contains a NUL byte"));
            }
            match std::fs::metadata(r) {
                Err(e) => return Err(Error::invalid("rootfs", format!("{}: {e}", r.display()))),
                Ok(m) if !m.is_dir() => {
                    return Err(Error::invalid(
                        "rootfs",
                        format!("{} is not a directory", r.display()),
                    ))
                }
                Ok(_) => r.clone(),
            }
        }
        None => PathBuf::from("/"),
    };
    let root_fd = open_dir(&root)?;
    let default_view = sb.fs.rootfs.is_none() && !sb.fs.bare;
    // bubblewrap's empty root: nothing exists but what the steps make.
    let empty_root = sb.fs.rootfs.is_none() && sb.fs.bare;
    let user_ns = sb.has_ns(Namespace::User);
    let pid_ns = sb.has_ns(Namespace::Pid);
    // A namespace of the box's own (new, or joined: then the kernel judges).
    let own_ns = |ns: Namespace| sb.has_ns(ns) || sb.join_ns.iter().any(|(k, _)| *k == ns);

    let steps = effective_steps(sb);
    let first_user = steps.len() - sb.fs.steps.len();
    let mut proc_dsts: Vec<PathBuf> = steps
        .iter()
        .filter_map(|s| match s {
            MountStep::Proc { dst } => normalize(dst),
            _ => None,
        })
        .collect();
    proc_dsts.push(PathBuf::from("/proc"));

    let mut seen: Vec<(PathBuf, usize)> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        // The default view's own steps are right by construction (made from
        // the host's entries): only the caller's are checked, against them.
        let Some(user_idx) = i.checked_sub(first_user) else {
            continue;
        };
        let kind = step.kind();
        let raw = step.dst();
        if has_nul(raw) {
            return Err(Error::invalid(
                kind,
                format!("destination {:?} contains a NUL byte", raw),
            ));
        }
        if !raw.is_absolute() {
            return Err(Error::invalid(
                kind,
                format!(
                    "destination {} must be an absolute path inside the box",
                    raw.display()
                ),
            ));
        }
        let Some(dst) = normalize(raw) else {
            return Err(Error::invalid(
                kind,
                format!("destination {} must not contain '..'", raw.display()),
            ));
        };
        if dst == Path::new("/") && !matches!(step, MountStep::RemountRo { .. }) {
            return Err(Error::invalid(
                kind,
                "destination / is the root itself: use rootfs() to choose it",
            ));
        }
        for p in &proc_dsts {
            if let Ok(rest) = dst.strip_prefix(p) {
                let first = rest.components().next().map(|c| c.as_os_str().to_owned());
                if let Some(first) = first {
                    let f = first.as_bytes();
                    let is_pid = f.iter().all(u8::is_ascii_digit);
                    if f == b"self" || f == b"thread-self" || is_pid {
                        return Err(Error::invalid(
                            kind,
                            format!(
                                "destination {} is inside {}/{}, the box's own process \
                                 entries: mounting over them is refused",
                                dst.display(),
                                p.display(),
                                first.to_string_lossy()
                            ),
                        ));
                    }
                }
            }
        }
        if !sb.fs.bare
            && !matches!(
                step,
                MountStep::Mask { .. } | MountStep::RemountRo { .. } | MountStep::Chmod { .. }
            )
        {
            if let Some((_, j)) = seen.iter().find(|(d, _)| *d == dst) {
                return Err(Error::invalid(
                    kind,
                    format!(
                        "destination {} is already used by step {} ({}); \
                         two steps cannot make the same path",
                        dst.display(),
                        j,
                        steps[first_user + j].kind()
                    ),
                ));
            }
        }
        seen.push((dst.clone(), user_idx));
        // Is the path covered by an earlier mount, so the host (or rootfs)
        // says nothing about it? Binds of a host path onto itself (the
        // default view's) show the same tree and do not count.
        let strictly_under =
            |s: &MountStep| normalize(s.dst()).is_some_and(|d| dst.starts_with(&d) && d != dst);
        let shadowed = steps[..i]
            .iter()
            .any(|s| s.mounts_new() && !s.is_identity_bind() && strictly_under(s));
        let writable_parent = (default_view && dst.parent() == Some(Path::new("/")))
            || steps[..i].iter().any(|s| {
                strictly_under(s)
                    && matches!(
                        s,
                        MountStep::Tmpfs { .. }
                            | MountStep::Overlay { .. }
                            | MountStep::Dir { .. }
                            | MountStep::Bind {
                                readonly: false,
                                ..
                            }
                    )
            });
        let existing = if shadowed || empty_root {
            None
        } else {
            kind_in_root(root_fd.as_raw_fd(), &dst)
        };

        match step {
            MountStep::Bind { src, .. } => {
                if has_nul(src) {
                    return Err(Error::invalid(kind, "source contains a NUL byte"));
                }
                let meta = std::fs::symlink_metadata(src).map_err(|e| {
                    Error::invalid(
                        kind,
                        format!("source {} cannot be used: {e}", src.display()),
                    )
                })?;
                if meta.file_type().is_symlink() {
                    return Err(Error::invalid(
                        kind,
                        format!(
                            "source {} is a symlink; bind its target, or recreate the link \
                             with symlink()",
                            src.display()
                        ),
                    ));
                }
                match (meta.is_dir(), existing) {
                    (false, Some(Kind::Dir)) => {
                        return Err(Error::invalid(
                            kind,
                            format!(
                                "cannot bind file {} onto directory {}",
                                src.display(),
                                dst.display()
                            ),
                        ))
                    }
                    (true, Some(Kind::Other)) => {
                        return Err(Error::invalid(
                            kind,
                            format!(
                                "cannot bind directory {} onto non-directory {}",
                                src.display(),
                                dst.display()
                            ),
                        ))
                    }
                    _ => {}
                }
            }
            MountStep::Tmpfs {
                size, source, mode, ..
            } => {
                if *size == 0 {
                    return Err(Error::invalid(
                        kind,
                        format!("size of the tmpfs on {} must be > 0", dst.display()),
                    ));
                }
                if mode.is_some_and(|m| m > 0o7777) {
                    return Err(Error::invalid(
                        kind,
                        format!(
                            "mode of the tmpfs on {} must be at most 0o7777",
                            dst.display()
                        ),
                    ));
                }
                if let Some(s) = source {
                    if s.is_empty() || s.len() > 255 || s.bytes().any(|b| b == 0 || b == b'\n') {
                        return Err(Error::invalid(
                            kind,
                            format!(
                                "source {s:?} of the tmpfs on {} must be 1 to 255 bytes, \
                                 without NUL or newline",
                                dst.display()
                            ),
                        ));
                    }
                }
            }
            MountStep::Proc { .. }
            | MountStep::Dev { .. }
            | MountStep::Mqueue { .. }
            | MountStep::Sysfs { .. } => {
                // The kernel ties mqueue to the IPC namespace and sysfs to
                // the network namespace: in a user namespace it refuses
                // (EPERM) to mount them for namespaces it does not own.
                let needs = match step {
                    MountStep::Mqueue { .. } => Some((Namespace::Ipc, "an IPC", "ipc_ns()")),
                    MountStep::Sysfs { .. } => Some((Namespace::Net, "a network", "net_ns()")),
                    _ => None,
                };
                if let Some((ns, what, method)) = needs {
                    if user_ns && !own_ns(ns) {
                        return Err(Error::invalid(
                            kind,
                            format!(
                                "mounting {kind} on {} in a user namespace needs {what} \
                                 namespace: add {method}",
                                dst.display()
                            ),
                        ));
                    }
                }
                if matches!(step, MountStep::Proc { .. }) && user_ns && !pid_ns {
                    return Err(Error::invalid(
                        kind,
                        format!(
                            "mounting proc on {} in a user namespace needs a PID \
                             namespace: add pid_ns()",
                            dst.display()
                        ),
                    ));
                }
                if !shadowed && !empty_root && existing_is_not_real_dir(root_fd.as_raw_fd(), &dst) {
                    return Err(Error::invalid(
                        kind,
                        format!("destination {} must be a real directory", dst.display()),
                    ));
                }
            }
            MountStep::Symlink { target, .. } => {
                let link = (!shadowed && !empty_root)
                    .then(|| link_in_root(root_fd.as_raw_fd(), &dst))
                    .flatten();
                match &link {
                    Some(t) if t.as_slice() == target.as_os_str().as_bytes() => {}
                    Some(t) => {
                        return Err(Error::invalid(
                            kind,
                            format!(
                                "Can't make symlink at {}: existing destination is {}",
                                dst.display(),
                                String::from_utf8_lossy(t)
                            ),
                        ))
                    }
                    None => {}
                }
                if existing.is_some() && link.is_none() {
                    return Err(Error::invalid(
                        kind,
                        format!("{} already exists: symlink() only creates", dst.display()),
                    ));
                }
                if target.as_os_str().is_empty() || has_nul(target) {
                    return Err(Error::invalid(
                        kind,
                        format!(
                            "target of link {} must be non-empty without NUL bytes",
                            dst.display()
                        ),
                    ));
                }
            }
            MountStep::Overlay {
                lowers,
                upper,
                work,
                ..
            } => {
                if lowers.is_empty() {
                    return Err(Error::invalid(
                        kind,
                        format!("overlay on {} needs at least one lower", dst.display()),
                    ));
                }
                if upper.is_some() != work.is_some() {
                    return Err(Error::invalid(
                        kind,
                        format!("overlay on {} needs both upper and work", dst.display()),
                    ));
                }
                for d in lowers.iter().chain(upper.iter()).chain(work.iter()) {
                    if has_nul(d) || !std::fs::metadata(d).is_ok_and(|m| m.is_dir()) {
                        return Err(Error::invalid(
                            kind,
                            format!(
                                "overlay directory {} does not exist or is not a directory",
                                d.display()
                            ),
                        ));
                    }
                }
                if existing == Some(Kind::Other) {
                    return Err(Error::invalid(
                        kind,
                        format!("overlay destination {} is not a directory", dst.display()),
                    ));
                }
            }
            MountStep::File { .. } if existing.is_some() => {
                return Err(Error::invalid(
                    kind,
                    format!("{} already exists: file() only creates", dst.display()),
                ))
            }
            MountStep::Dir { mode: Some(m), .. } if *m > 0o7777 => {
                return Err(Error::invalid(
                    kind,
                    format!("mode {m:#o} of {} is above 0o7777", dst.display()),
                ))
            }
            MountStep::Dir { .. } | MountStep::File { .. } => {}
            MountStep::Device { mode, kind: k, .. } => {
                if *mode > 0o7777 {
                    return Err(Error::invalid(
                        kind,
                        format!("mode {mode:#o} of {} is above 0o7777", dst.display()),
                    ));
                }
                if user_ns && *k != super::DeviceKind::Fifo {
                    let host = std::fs::symlink_metadata(&dst);
                    if !host.is_ok_and(|m| {
                        use std::os::unix::fs::FileTypeExt;
                        m.file_type().is_char_device() || m.file_type().is_block_device()
                    }) {
                        return Err(Error::invalid(
                            kind,
                            format!(
                                "{}: in a user namespace the kernel refuses mknod of \
                                 devices, and the host has no device there to bind",
                                dst.display()
                            ),
                        ));
                    }
                }
            }
            MountStep::Chmod { mode, .. } if *mode > 0o7777 => {
                return Err(Error::invalid(
                    kind,
                    format!("mode {mode:#o} of {} is above 0o7777", dst.display()),
                ))
            }
            MountStep::Mask { .. } | MountStep::RemountRo { .. } | MountStep::Chmod { .. } => {
                continue
            }
        }
        if default_view && !shadowed && !writable_parent && existing.is_none() {
            return Err(Error::invalid(
                kind,
                format!(
                    "destination {} does not exist on the host, whose root the default \
                     view mounts read-only: mount a tmpfs on a parent first, or use rootfs()",
                    dst.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Open a directory `O_PATH`.
pub(crate) fn open_dir(p: &Path) -> Result<OwnedFd> {
    let c = CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::invalid("rootfs", "path contains a NUL byte"))?;
    // SAFETY: c is a valid C string; the result is a fresh fd or -1.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(Error::last_os("open directory", Some(p.to_path_buf())));
    }
    // SAFETY: fd is fresh and ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `dst` relative to the root, as a C string (`.` for the root itself).
pub(crate) fn rel_cstring(dst: &Path) -> CString {
    let rel = dst.strip_prefix("/").unwrap_or(dst);
    let bytes = if rel.as_os_str().is_empty() {
        b".".to_vec()
    } else {
        rel.as_os_str().as_bytes().to_vec()
    };
    CString::new(bytes).unwrap_or_else(|_| c".".into())
}

fn stat_kind(fd: i32) -> Option<Kind> {
    // SAFETY: fstat on a valid fd with a zeroed out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    Some(if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        Kind::Dir
    } else {
        Kind::Other
    })
}

/// What `dst` is inside the root (following symlinks inside it only).
fn kind_in_root(root: i32, dst: &Path) -> Option<Kind> {
    let rel = rel_cstring(dst);
    let fd = openat2(
        root,
        &rel,
        libc::O_PATH | libc::O_CLOEXEC,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    );
    if fd < 0 {
        return None;
    }
    // SAFETY: fd is fresh and ours.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    stat_kind(fd.as_raw_fd())
}

/// The target of `dst` in the root when it is a symlink (its parents
/// resolved inside the root).
fn link_in_root(root: i32, dst: &Path) -> Option<Vec<u8>> {
    let rel = rel_cstring(dst);
    let fd = openat2(
        root,
        &rel,
        libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    );
    if fd < 0 {
        return None;
    }
    // SAFETY: fd is fresh and ours.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut buf = vec![0u8; 4096];
    // SAFETY: readlinkat of an O_PATH symlink fd with an empty path, into
    // a buffer of buf.len() bytes.
    let n = unsafe {
        libc::readlinkat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| {
        buf.truncate(n as usize);
        buf
    })
}

/// Whether `dst` exists in the root but is not a directory reached without
/// a symlink in its last component.
fn existing_is_not_real_dir(root: i32, dst: &Path) -> bool {
    let rel = rel_cstring(dst);
    let fd = openat2(
        root,
        &rel,
        libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    );
    if fd < 0 {
        return false;
    }
    // SAFETY: fd is fresh and ours.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    stat_kind(fd.as_raw_fd()) != Some(Kind::Dir)
}
