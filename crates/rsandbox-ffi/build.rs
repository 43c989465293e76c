//! Give libsandbox.so a versioned soname, so programs link against
//! `libsandbox.so.0` and a future incompatible ABI can be installed beside it.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsandbox.so.{major}");
    println!("cargo:rerun-if-changed=build.rs");
}
