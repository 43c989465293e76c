//! The container's cgroup path (`linux.cgroupsPath`, or the default), made
//! safe before anything is created: lexically clean, never `..`, never a
//! hierarchy's root. `delete` and `kill --all` signal every process found
//! under this path, so a path that named the root cgroup, or climbed out of
//! where it says it is, would aim them at the host's processes (runc cleans
//! the path the same way and refuses a cgroup that already holds processes:
//! see `cgroups::check_unused`).

use std::path::{Component, Path, PathBuf};

use crate::error::{OciError, Res};

/// Where containers without a `cgroupsPath` (or with a relative one) go.
const DEFAULT_PARENT: &str = "/rsandbox-oci";

/// The config field every error here is about.
const FIELD: &str = "linux.cgroupsPath";

/// The container's cgroup path relative to each hierarchy's root, as an
/// absolute path (`/a/b`), checked.
pub fn container_cgroup(cgroups_path: Option<&Path>, id: &str, systemd: bool) -> Res<PathBuf> {
    let rel = match cgroups_path.filter(|p| !p.as_os_str().is_empty()) {
        // systemd's "slice:prefix:name" form, laid out as systemd would.
        Some(p) if systemd && p.to_string_lossy().contains(':') => systemd_path(p, id)?,
        Some(p) if p.is_absolute() => clean(p)?,
        Some(p) => Path::new(DEFAULT_PARENT).join(clean(p)?.strip_prefix("/").unwrap_or(p)),
        None => Path::new(DEFAULT_PARENT).join(id),
    };
    if rel.components().all(|c| c == Component::RootDir) {
        return Err(OciError::spec(
            FIELD,
            format!(
                "{:?} names the root cgroup, which holds the host's processes; give the \
                 container a cgroup of its own",
                cgroups_path.unwrap_or(Path::new("")).display()
            ),
        ));
    }
    Ok(rel)
}

/// `p` made absolute and lexically clean (`.` and repeated slashes gone),
/// or an error if a component is `..`.
fn clean(p: &Path) -> Res<PathBuf> {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(OciError::spec(
                    FIELD,
                    format!(
                        "{:?}: \"..\" is not allowed (the path must say where the cgroup is)",
                        p.display()
                    ),
                ))
            }
        }
    }
    Ok(out)
}

/// `slice:prefix:name` as systemd lays it out: `/<slice>/<prefix>-<name>.scope`.
fn systemd_path(p: &Path, id: &str) -> Res<PathBuf> {
    let s = p.to_string_lossy();
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 3 {
        return Err(OciError::spec(
            FIELD,
            format!("{s:?}: expected systemd's \"slice:prefix:name\""),
        ));
    }
    let bad = |x: &str| x.contains('/') || x == "." || x == "..";
    if parts.iter().any(|x| bad(x)) {
        return Err(OciError::spec(
            FIELD,
            format!("{s:?}: a slice, prefix or name may not contain '/' or be \".\" or \"..\""),
        ));
    }
    let slice = if parts[0].is_empty() {
        "system.slice"
    } else {
        parts[0]
    };
    let name = if parts[2].is_empty() { id } else { parts[2] };
    Ok(PathBuf::from("/")
        .join(slice)
        .join(format!("{}-{name}.scope", parts[1])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cg(p: Option<&str>) -> Res<PathBuf> {
        container_cgroup(p.map(Path::new), "c1", false)
    }

    #[test]
    fn defaults_and_clean_paths() {
        assert_eq!(cg(None).unwrap(), Path::new("/rsandbox-oci/c1"));
        assert_eq!(cg(Some("")).unwrap(), Path::new("/rsandbox-oci/c1"));
        assert_eq!(cg(Some("/a//b/./c/")).unwrap(), Path::new("/a/b/c"));
        assert_eq!(cg(Some("x/y")).unwrap(), Path::new("/rsandbox-oci/x/y"));
        assert_eq!(cg(Some("./x")).unwrap(), Path::new("/rsandbox-oci/x"));
    }

    #[test]
    fn dotdot_and_the_root_are_refused() {
        for p in ["/a/../..", "/..", "../../x", "/a/..", "x/../../y"] {
            let e = cg(Some(p)).unwrap_err().to_string();
            assert!(e.contains("\"..\""), "{p}: {e}");
        }
        for p in ["/", "//", "/./"] {
            let e = cg(Some(p)).unwrap_err().to_string();
            assert!(e.contains("root cgroup"), "{p}: {e}");
        }
    }

    #[test]
    fn systemd_form() {
        let s = |p: &str| container_cgroup(Some(Path::new(p)), "c1", true);
        assert_eq!(
            s("machine.slice:libpod:abc").unwrap(),
            Path::new("/machine.slice/libpod-abc.scope")
        );
        assert_eq!(
            s(":crio:").unwrap(),
            Path::new("/system.slice/crio-c1.scope")
        );
        for bad in ["a/b:p:n", "..:p:n", "s:p:..", "s:p", "s:p:n:x"] {
            assert!(s(bad).is_err(), "{bad}");
        }
        // Without --systemd-cgroup a colon is part of a plain name.
        assert_eq!(cg(Some("/a:b")).unwrap(), Path::new("/a:b"));
    }
}
