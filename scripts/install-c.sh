#!/usr/bin/env bash
# Install the C library of rsandbox: the shared library (with its soname
# link), the static library, the header and a pkg-config file.
#
#   PREFIX=/usr/local scripts/install-c.sh
#
# then: cc prog.c $(pkg-config --cflags --libs sandbox)
#
# Environment:
#   PREFIX      install prefix (default /usr/local)
#   LIBDIR      libraries and pkgconfig/ (default $PREFIX/lib)
#   INCLUDEDIR  sandbox.h (default $PREFIX/include)
#   DESTDIR     staging root for packaging (files go to $DESTDIR$PREFIX/...)
#   PROFILE     cargo profile to build and install: release (default) or debug
#   CARGO_TARGET_DIR  where cargo builds (default: target/ in the repository)
#
# Installs:
#   $LIBDIR/libsandbox.so.X.Y.Z, libsandbox.so.X -> it (the soname),
#   libsandbox.so -> libsandbox.so.X, $LIBDIR/libsandbox.a,
#   $INCLUDEDIR/sandbox.h, $LIBDIR/pkgconfig/sandbox.pc
# For a prefix outside the loader's path, run ldconfig or set
# LD_LIBRARY_PATH / -Wl,-rpath yourself: this script changes nothing else.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=${PREFIX:-/usr/local}
LIBDIR=${LIBDIR:-$PREFIX/lib}
INCLUDEDIR=${INCLUDEDIR:-$PREFIX/include}
DESTDIR=${DESTDIR:-}
PROFILE=${PROFILE:-release}
target=${CARGO_TARGET_DIR:-$root/target}

case $PROFILE in
  release) flags=(--release); dir=release ;;
  debug | dev) flags=(); dir=debug ;;
  *) echo "install-c.sh: PROFILE must be release or debug, not '$PROFILE'" >&2; exit 2 ;;
esac

version=$(sed -n 's/^version = "\([^"]*\)"/\1/p' "$root/Cargo.toml" | head -n1)
major=${version%%.*}

(cd "$root" && cargo build -q -p rsandbox-ffi "${flags[@]}")

lib=$DESTDIR$LIBDIR
inc=$DESTDIR$INCLUDEDIR
install -d "$lib/pkgconfig" "$inc"
install -m 0755 "$target/$dir/libsandbox.so" "$lib/libsandbox.so.$version"
ln -sfn "libsandbox.so.$version" "$lib/libsandbox.so.$major"
ln -sfn "libsandbox.so.$major" "$lib/libsandbox.so"
install -m 0644 "$target/$dir/libsandbox.a" "$lib/libsandbox.a"
install -m 0644 "$root/include/sandbox.h" "$inc/sandbox.h"
sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@LIBDIR@|$LIBDIR|g" \
    -e "s|@INCLUDEDIR@|$INCLUDEDIR|g" -e "s|@VERSION@|$version|g" \
    "$root/bindings/c/sandbox.pc.in" > "$lib/pkgconfig/sandbox.pc"
chmod 0644 "$lib/pkgconfig/sandbox.pc"
echo "installed libsandbox $version ($PROFILE) into ${DESTDIR}${PREFIX}"
