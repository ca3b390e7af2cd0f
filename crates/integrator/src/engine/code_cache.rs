//! The compiled-code cache: wasmtime's native code for a component, kept
//! on disk so a run does not compile it again.
//!
//! What is loaded from here runs as native code in this process, so the
//! cache is trusted only as far as this user's own files: the directory must
//! be this user's and closed to other writers (made 0700, see
//! `token_store::private_fs`), each artifact and its digest are owner-only
//! regular files opened without following links, and an artifact is
//! deserialized from memory only when its SHA-256 matches the digest kept
//! beside it in a separate file. Anything that does not check out is
//! compiled again (and logged), never loaded.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use token_store::private_fs;

const WHAT: &str = "the compiled-code cache";

pub struct CodeCache {
    artifact: PathBuf,
    digest: PathBuf,
}

/// Lower-case hex, as SHA-256 digests are written here and in cache names.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl CodeCache {
    /// The cache entry `name` in `dir`, once the directory checks out.
    pub fn open(dir: &Path, name: &str) -> Result<CodeCache, String> {
        private_fs::ensure_private_dir(dir, "the compiled-code cache directory")?;
        Ok(CodeCache {
            artifact: dir.join(name),
            digest: dir.join(format!("{name}.sha256")),
        })
    }

    fn read_checked(path: &Path) -> Result<Vec<u8>, String> {
        let mut f = private_fs::open_existing(path, WHAT, false)?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        Ok(bytes)
    }

    /// The artifact's bytes, if it is there and its digest matches.
    pub fn read(&self) -> Option<Vec<u8>> {
        if !self.artifact.exists() {
            return None;
        }
        let checked = Self::read_checked(&self.digest).and_then(|digest| {
            let bytes = Self::read_checked(&self.artifact)?;
            if hex(&Sha256::digest(&bytes)).as_bytes() == digest.trim_ascii() {
                Ok(bytes)
            } else {
                Err(format!(
                    "{} does not match its digest (changed or partly written)",
                    self.artifact.display()
                ))
            }
        });
        match checked {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                tracing::warn!(target: "integrator", "{e}; compiling instead");
                None
            }
        }
    }

    /// Stores an artifact and then its digest, each written to a new
    /// owner-only file and renamed into place (a reader sees old or new,
    /// and an artifact without its matching digest is compiled again).
    pub fn write(&self, bytes: &[u8]) {
        let digest = hex(&Sha256::digest(bytes));
        let result = Self::replace(&self.artifact, bytes)
            .and_then(|()| Self::replace(&self.digest, digest.as_bytes()));
        if let Err(e) = result {
            tracing::warn!(target: "integrator", "not cached: {e}");
        }
    }

    fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .and_then(|mut f| f.write_all(bytes));
        match written.and_then(|()| std::fs::rename(&tmp, path)) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }
}
