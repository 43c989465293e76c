//! The enforcement report of a launch, assembled from the prepared plans
//! (the report itself is data, in [`crate::report`]; the engines each
//! describe their own layer).

use crate::caps::CapsPlan;
use crate::landlock::LandlockPlan;
use crate::report::{EnforcementReport, LayerReport};
use crate::sandbox::Sandbox;
use crate::seccomp::SeccompProgram;

/// The report for a prepared launch plan: namespaces (all-or-nothing
/// for one clone: what a refused clone lost is pushed by the spawn,
/// see [`crate::degrade`]), capabilities, no_new_privs, securebits,
/// Landlock and seccomp. Other layers (limits, cgroup, filesystem) are
/// pushed by their owners.
pub(crate) fn assemble(
    sb: &Sandbox,
    caps: Option<&CapsPlan>,
    landlock: Option<&LandlockPlan>,
    seccomp: Option<&SeccompProgram>,
) -> EnforcementReport {
    let mut r = EnforcementReport::default();
    for ns in crate::Namespace::ALL {
        let name = format!("namespace:{}", ns.name());
        if sb.has_ns(ns) {
            r.push(LayerReport::full(name, "new namespace"));
        } else if let (crate::Namespace::Net, Some(shared)) = (ns, &sb.shared_net) {
            r.push(LayerReport::full(
                name,
                format!("shared namespace net:[{}]", shared.inode()),
            ));
        } else {
            r.push(LayerReport::not_requested(name));
        }
    }
    r.push(crate::identity::report(sb));
    for l in CapsPlan::report(sb, caps, landlock.is_some() || seccomp.is_some()) {
        r.push(l);
    }
    r.push(LandlockPlan::report(sb, landlock));
    r.push(SeccompProgram::report(seccomp));
    if let Some(sys) = crate::fs::sysfs::report(sb) {
        r.push(sys);
    }
    if let Some(image) = crate::image::report(sb) {
        r.push(image);
    }
    r
}
