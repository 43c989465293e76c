//! The enforcement reports of a template box and of its forks.
//!
//! A fork inherits every layer the template box has (its Landlock domain,
//! seccomp filter, no_new_privs, rlimits, capability sets, namespaces),
//! so its report starts from the template box's, as the ordinary spawn
//! made it. What a fork makes its own replaces the inherited entry:
//! with namespaced forks, the six namespaces, the capabilities (all
//! dropped), over the template's relaxed default profile the tightening
//! filter, and the Landlock ruleset, which namespaced forks apply themselves
//! (the template box runs without it). A `template` layer says how the box serves forks
//! and, on a fork, what it shares with the template and its siblings.

use crate::ns::Namespace;
use crate::report::{Enforcement, EnforcementReport, LayerReport};

/// How a template's forks are made, for its reports.
#[derive(Debug, Clone)]
pub(super) struct Posture {
    /// Each fork makes its own namespaces and drops every capability.
    pub namespaces: bool,
    /// Each fork stacks the tightening filter over the template box's
    /// relaxed default profile.
    pub tightened: bool,
    /// Each fork gets a cgroup of its own with the description's limits.
    pub own_cgroup: bool,
    /// The `landlock` entry of each fork, when forks apply the ruleset
    /// (namespaced forks of a description with Landlock).
    pub landlock: Option<LayerReport>,
    /// The template box masks its `/proc` and keeps a read-only proc
    /// under it for the forks, whose `/proc` is then read-only and masked
    /// again (`CONFIG_PROC`).
    pub masked_proc: bool,
}

/// The namespaces a namespaced fork makes (`isolate::NS_FLAGS`).
const OWN_NAMESPACES: [Namespace; 6] = [
    Namespace::User,
    Namespace::Pid,
    Namespace::Mount,
    Namespace::Net,
    Namespace::Ipc,
    Namespace::Uts,
];

/// The template box's report, with its `template` layer.
pub(super) fn of_template(boxed: &EnforcementReport, p: &Posture) -> EnforcementReport {
    let mut r = boxed.clone();
    if let Some(l) = &p.landlock {
        r.push(LayerReport {
            layer: "landlock".into(),
            requested: l.requested.clone(),
            applied: "not on the template box: each fork applies it after making its \
                      namespaces (the template's own code before its ready point runs \
                      without it)"
                .into(),
            enforcement: Enforcement::NotEnforced,
        });
    }
    let forks = if p.namespaces {
        "forks with namespaces of their own"
    } else {
        "forks in this box's namespaces (sandlock's posture)"
    };
    let proc = if p.masked_proc {
        "; a read-only proc kept under its masked /proc, reachable by no path, so \
         that the kernel lets each fork mount its own"
    } else {
        ""
    };
    r.push(LayerReport::full(
        "template",
        format!(
            "template box serving {forks} at its ready point{}{proc}",
            cgroup_note(p)
        ),
    ));
    r
}

/// A fork's report: the template box's, with what the fork makes its own.
pub(super) fn of_fork(boxed: &EnforcementReport, p: &Posture) -> EnforcementReport {
    let mut r = boxed.clone();
    if p.namespaces {
        for ns in OWN_NAMESPACES.map(Namespace::name) {
            r.push(LayerReport::full(
                format!("namespace:{ns}"),
                own_namespace(ns, p.masked_proc),
            ));
        }
        r.push(LayerReport::full(
            "capabilities",
            "every capability dropped by the fork (bounding, ambient, inheritable, \
             permitted, effective)",
        ));
    }
    if p.tightened {
        r.push(LayerReport::full(
            "seccomp",
            "the default profile's answers: the template box's relaxed default profile \
             with the fork's tightening filter stacked (mount, unshare and namespace \
             clones refused)",
        ));
    }
    if let Some(l) = &p.landlock {
        r.push(l.clone());
    }
    r.push(LayerReport::full("template", fork_note(p)));
    r
}

fn own_namespace(ns: &str, masked_proc: bool) -> String {
    let extra = match ns {
        "mnt" if masked_proc => {
            ": a copy of the template box's mounts with a fresh read-only /proc, \
             its masked entries covered again by the template box's masks"
        }
        "mnt" => ": a copy of the template box's mounts with a fresh /proc",
        "net" => ": loopback only, up",
        _ => "",
    };
    format!(
        "new {ns} namespace made by the fork, not shared with the template or its siblings{extra}"
    )
}

fn cgroup_note(p: &Posture) -> &'static str {
    if p.own_cgroup {
        "; each fork in a cgroup of its own with the description's limits"
    } else {
        ""
    }
}

fn fork_note(p: &Posture) -> String {
    let shares = if p.namespaces {
        "shares with the template only its memory at the ready point (copy-on-write), \
         its open files and its file system"
    } else {
        "shares the template box's namespaces and uid with the template and its other \
         forks, which it can see and signal; its memory at the ready point \
         (copy-on-write) and open files"
    };
    format!("forked from a template box: {shares}{}", cgroup_note(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed() -> EnforcementReport {
        let mut r = EnforcementReport::default();
        r.push(LayerReport::full("namespace:pid", "new namespace"));
        r.push(LayerReport::full("seccomp", "relaxed default profile"));
        r.push(LayerReport::full("landlock", "2 rules"));
        r
    }

    #[test]
    fn a_namespaced_fork_reports_its_own_namespaces_and_keeps_the_rest() {
        let p = Posture {
            namespaces: true,
            tightened: true,
            own_cgroup: false,
            landlock: None,
            masked_proc: true,
        };
        let r = of_fork(&boxed(), &p);
        let mnt = &r.layer("namespace:mnt").unwrap().applied;
        assert!(
            mnt.contains("read-only /proc") && mnt.contains("masks"),
            "{mnt}"
        );
        let t = of_template(&boxed(), &p);
        let t = &t.layer("template").unwrap().applied;
        assert!(t.contains("read-only proc kept under"), "{t}");
        for ns in OWN_NAMESPACES.map(Namespace::name) {
            let l = r
                .layer(&format!("namespace:{ns}"))
                .expect("namespace entry");
            assert!(l.applied.contains("made by the fork"), "{l:?}");
        }
        assert!(r.layer("seccomp").unwrap().applied.contains("tightening"));
        assert!(r.layer("capabilities").unwrap().applied.contains("dropped"));
        assert_eq!(r.layer("landlock").unwrap().applied, "2 rules");
        assert!(r.layer("template").unwrap().applied.contains("forked"));
    }

    #[test]
    fn the_reported_namespaces_are_the_ones_forks_make() {
        let flags = OWN_NAMESPACES.iter().fold(0, |f, ns| f | ns.clone_flag());
        assert_eq!(flags, super::super::isolate::NS_FLAGS);
    }

    #[test]
    fn a_plain_fork_reports_the_template_box_layers_as_they_are() {
        let p = Posture {
            namespaces: false,
            tightened: false,
            own_cgroup: true,
            landlock: None,
            masked_proc: false,
        };
        let r = of_fork(&boxed(), &p);
        assert_eq!(r.layer("namespace:pid").unwrap().applied, "new namespace");
        assert_eq!(
            r.layer("seccomp").unwrap().applied,
            "relaxed default profile"
        );
        assert!(r.layer("capabilities").is_none());
        let t = &r.layer("template").unwrap().applied;
        assert!(
            t.contains("can see and signal") && t.contains("cgroup of its own"),
            "{t}"
        );
        let t = of_template(&boxed(), &p);
        assert!(t.layer("template").unwrap().applied.contains("sandlock"));
    }

    #[test]
    fn landlock_applied_by_forks_is_theirs_not_the_template_boxs() {
        let entry = LayerReport::full("landlock", "read /usr");
        let p = Posture {
            namespaces: true,
            tightened: false,
            own_cgroup: false,
            landlock: Some(entry.clone()),
            masked_proc: false,
        };
        assert_eq!(of_fork(&boxed(), &p).layer("landlock"), Some(&entry));
        let t = of_template(&boxed(), &p);
        let l = t.layer("landlock").unwrap();
        assert_eq!(l.enforcement, Enforcement::NotEnforced);
        assert_eq!(l.requested, "read /usr");
    }
}
