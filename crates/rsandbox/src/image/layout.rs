//! Reading an OCI image layout: `oci-layout`, `index.json`, the manifest and
//! the config, each blob checked against its digest and size before use.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::ImageError;

/// A content descriptor (`mediaType`, `digest`, `size`, annotations).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// An image manifest: its config and its layers, bottom first.
#[derive(Debug, Deserialize)]
pub(crate) struct Manifest {
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// The image config: only the part that sets the payload's defaults.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ConfigFile {
    #[serde(default)]
    pub config: Option<RunConfig>,
}

/// `config` of the image config (OCI image spec, "Properties").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RunConfig {
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
}

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];
const CONFIG_TYPES: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

/// Check `oci-layout` and read `index.json`.
fn read_index(dir: &Path) -> Result<Index, ImageError> {
    let marker = dir.join("oci-layout");
    let text = std::fs::read(&marker).map_err(|e| ImageError::io(&marker, e))?;
    let v: serde_json::Value = json(&marker, &text)?;
    if v.get("imageLayoutVersion").and_then(|v| v.as_str()) != Some("1.0.0") {
        return Err(ImageError::Layout {
            file: marker,
            reason: "imageLayoutVersion is not \"1.0.0\"".into(),
        });
    }
    let path = dir.join("index.json");
    let text = std::fs::read(&path).map_err(|e| ImageError::io(&path, e))?;
    json(&path, &text)
}

fn json<T: serde::de::DeserializeOwned>(file: &Path, text: &[u8]) -> Result<T, ImageError> {
    serde_json::from_slice(text).map_err(|e| ImageError::Layout {
        file: file.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Pick the manifest named `reference` (its `ref.name` annotation); with no
/// reference, the only manifest or the one named `latest`.
pub(crate) fn select(dir: &Path, reference: Option<&str>) -> Result<Descriptor, ImageError> {
    let index = read_index(dir)?;
    let name = |d: &Descriptor| d.annotations.get(REF_NAME).cloned();
    let found = match reference {
        Some(r) => index
            .manifests
            .iter()
            .find(|d| name(d).as_deref() == Some(r)),
        None if index.manifests.len() == 1 => index.manifests.first(),
        None => index
            .manifests
            .iter()
            .find(|d| name(d).as_deref() == Some("latest")),
    };
    let Some(desc) = found else {
        return Err(ImageError::ReferenceNotFound {
            index: dir.join("index.json"),
            reference: reference.unwrap_or("latest").to_string(),
            available: index.manifests.iter().filter_map(name).collect(),
        });
    };
    expect_type("index.json manifests[].mediaType", desc, MANIFEST_TYPES)?;
    Ok(desc.clone())
}

fn expect_type(field: &str, d: &Descriptor, allowed: &[&str]) -> Result<(), ImageError> {
    if allowed.contains(&d.media_type.as_str()) {
        Ok(())
    } else {
        Err(ImageError::UnknownMediaType {
            field: field.into(),
            media_type: d.media_type.clone(),
        })
    }
}

/// Path of the blob `d` names, after checking the digest's syntax.
pub(crate) fn blob_path(dir: &Path, d: &Descriptor) -> Result<PathBuf, ImageError> {
    let hex = d
        .digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    match hex {
        Some(h) => Ok(dir.join("blobs/sha256").join(h)),
        None => Err(ImageError::Layout {
            file: dir.join("index.json"),
            reason: format!("digest {:?} is not sha256:<64 hex digits>", d.digest),
        }),
    }
}

/// Check that blob `d` exists, has its size and its sha256 digest.
pub(crate) fn verify(dir: &Path, d: &Descriptor) -> Result<PathBuf, ImageError> {
    let path = blob_path(dir, d)?;
    let mut f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ImageError::MissingBlob {
                digest: d.digest.clone(),
                path,
            })
        }
        Err(e) => return Err(ImageError::io(&path, e)),
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| ImageError::io(&path, e))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    let actual = format!("sha256:{}", hex(&hasher.finalize()));
    if size != d.size || actual != d.digest {
        return Err(ImageError::DigestMismatch {
            path,
            expected: format!("{} ({} bytes)", d.digest, d.size),
            actual: format!("{actual} ({size} bytes)"),
        });
    }
    Ok(path)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Read and verify the manifest `desc` names, then its config.
pub(crate) fn manifest(
    dir: &Path,
    desc: &Descriptor,
) -> Result<(Manifest, ConfigFile), ImageError> {
    let path = verify(dir, desc)?;
    let text = std::fs::read(&path).map_err(|e| ImageError::io(&path, e))?;
    let m: Manifest = json(&path, &text)?;
    expect_type("manifest config.mediaType", &m.config, CONFIG_TYPES)?;
    for l in &m.layers {
        super::unpack::Compression::of(&l.media_type)?;
    }
    let cpath = verify(dir, &m.config)?;
    let text = std::fs::read(&cpath).map_err(|e| ImageError::io(&cpath, e))?;
    let c: ConfigFile = json(&cpath, &text)?;
    Ok((m, c))
}
