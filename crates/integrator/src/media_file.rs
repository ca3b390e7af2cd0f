//! uploadMedia's `media_file`: a file the runtime reads for a flow, from
//! the one directory the operator allowed (`--media-dir`), never from an
//! arbitrary path in request data. The name must be relative, without
//! `..`; the file is opened with openat2(2) beneath the directory with no
//! link followed anywhere on the way, so nothing swapped in after a check
//! can lead out of it; only a regular file is read. Its bytes go to the
//! component as the base64 `media` parameter.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use base64::Engine;

/// The runtime's own parameters of operations other than `init`.
pub const PARAMETERS: &[(&str, &str)] = &[("uploadMedia", "media_file")];

/// The most a file may hold: the media an instance's memory (32 MiB by
/// default) holds beside its base64 and the chunks it sends.
pub const MAX_FILE_BYTES: u64 = 12 << 20;

/// Why a `media_file` is refused, naming the parameter and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid parameter `media_file`: {}", self.0)
    }
}

/// Opens `rel` beneath `root` (the operator's directory, which may itself
/// be a link) with openat2(2): RESOLVE_BENEATH refuses `..` and absolute
/// links out, RESOLVE_NO_SYMLINKS every link on the way, so a directory
/// swapped for a link between two calls cannot lead out; O_NONBLOCK keeps
/// a FIFO from hanging the open. std has no openat2, hence the syscall.
fn open_beneath(root: &Path, rel: &Path) -> io::Result<File> {
    let dir = File::open(root.canonicalize()?)?;
    let path = CString::new(rel.as_os_str().as_bytes())?;
    // SAFETY: open_how is plain data; zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOFOLLOW) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS;
    // SAFETY: a valid directory fd, a NUL-terminated path, and `how` with
    // the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor; the File owns it.
    Ok(unsafe { File::from_raw_fd(fd as i32) })
}

/// `values` with a `media_file` replaced by the file's bytes as `media`.
pub fn resolve(
    dir: Option<&Path>,
    mut values: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, Refused> {
    let Some(i) = values.iter().position(|(k, _)| k == "media_file") else {
        return Ok(values);
    };
    let (_, name) = values.remove(i);
    let refuse = |why: &str| Err(Refused(why.to_string()));
    if values
        .iter()
        .any(|(k, v)| k == "media" && !v.trim().is_empty())
    {
        return refuse("give either media (base64) or media_file, not both");
    }
    let Some(dir) = dir else {
        return refuse(
            "the operator has allowed no directory for media files (integrator --media-dir DIR)",
        );
    };
    let rel = Path::new(name.trim());
    if name.trim().is_empty()
        || name.contains('\0')
        || !rel.components().all(|c| matches!(c, Component::Normal(_)))
    {
        return refuse(
            "must be a file name relative to the media directory, without `..` or a leading `/`",
        );
    }
    let mut file = open_beneath(dir, rel).map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP | libc::EXDEV) => {
            Refused("leads out of the media directory (through a link)".into())
        }
        _ => Refused(format!(
            "`{name}` is not a file in the media directory ({e})"
        )),
    })?;
    let meta = file
        .metadata()
        .map_err(|e| Refused(format!("`{name}` cannot be read: {e}")))?;
    if !meta.is_file() {
        return refuse("is not a regular file");
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(Refused(format!(
            "`{name}` holds {} bytes; the runtime passes at most {MAX_FILE_BYTES}",
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    (&mut file)
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Refused(format!("`{name}` cannot be read: {e}")))?;
    values.retain(|(k, _)| k != "media");
    values.push((
        "media".into(),
        base64::engine::general_purpose::STANDARD.encode(&bytes),
    ));
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(name: &str) -> Vec<(String, String)> {
        vec![("media_file".into(), name.into())]
    }

    struct TempDir(std::path::PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let p = std::env::temp_dir()
                .join(format!("media-file-{tag}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn only_files_inside_the_directory() {
        let dir = TempDir::new("in");
        let outside = TempDir::new("out");
        std::fs::write(dir.path().join("a.png"), b"\x89PNG").unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link")).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        // A link to a directory outside, then a name through it.
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
        let fifo = CString::new(dir.path().join("fifo").as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let ok = resolve(Some(dir.path()), kv("a.png")).unwrap();
        assert_eq!(ok, vec![("media".to_string(), "iVBORw==".to_string())]);
        for bad in [
            "../secret",
            "/etc/passwd",
            "link",
            "sub",
            "missing.png",
            "",
            "a/../a.png",
        ] {
            assert!(resolve(Some(dir.path()), kv(bad)).is_err(), "{bad}");
        }
        assert!(resolve(None, kv("a.png")).is_err());
        let mut both = kv("a.png");
        both.push(("media".into(), "AAAA".into()));
        assert!(resolve(Some(dir.path()), both).is_err());
        let none = vec![("media".to_string(), "AAAA".to_string())];
        assert_eq!(resolve(None, none.clone()).unwrap(), none);
    }
}
