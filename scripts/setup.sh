#!/usr/bin/env bash
# Installs the Debian packages the tests need, on a fresh Debian 12 machine
# (as root). Idempotent: only runs apt-get when something is missing.
set -euo pipefail

# podman: the OCI runtime's end-to-end test (crates/rsandbox-oci/tests/podman.rs)
# runs containers with it; without recommends it brings conmon, crun and a
# network stack, which is all that test uses (vfs storage, --network none).
# git, nodejs, curl, python3: real programs the hardening tests run in a strict box
# under the default seccomp profile (crates/rsandbox/tests/hardening.rs);
# podman also brings /usr/share/containers/seccomp.json, the Podman profile
# those tests load where Debian installs it.
# containerd: crates/rsandbox-oci/tests/containerd.rs starts its own (1.6, with
# ctr and the runc shim v2) and runs rsandbox-oci under it as `--runc-binary`;
# the package brings runc too, which that test does not use.
# umoci builds an OCI image layout without a registry (crates/rsandbox/tests/image.rs).
need=(busybox-static pkg-config python3-venv valgrind iproute2 util-linux gcc libc6-dev procps
      file podman containerd git nodejs curl python3 umoci)
missing=()
for p in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v cargo >/dev/null || { echo "setup: cargo is required (rustup)"; exit 1; }
