//! Files only this user may touch: the SQLite store, the store key file,
//! and (in the runtime) the compiled-code cache. Each check is made on the
//! thing itself, never through a symlink, and each refusal says what to fix.
//!
//! The rules (see docs/security.md):
//! - a directory holding such files is not a symlink, is owned by this user
//!   and is not writable by group or others (who could otherwise swap the
//!   files in it); a new one is made 0700;
//! - such a file is a regular file, not a symlink, owned by this user and
//!   neither readable nor writable by group or others; a new one is made
//!   0600. An existing file is never chmod-ed: it may not be ours to change.

use std::fs::{DirBuilder, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// This process's effective user.
pub fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Why a path is refused: an error for the user, naming the path and the fix.
fn refuse(what: &str, path: &Path, problem: &str, fix: &str) -> String {
    format!("{what} {} {problem}: {fix}", path.display())
}

/// Checks a directory that holds private files, creating it (and missing
/// parents) 0700 when absent.
pub fn ensure_private_dir(path: &Path, what: &str) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(|e| format!("cannot create {what} {}: {e}", path.display())),
        Err(e) => Err(format!("cannot inspect {what} {}: {e}", path.display())),
        Ok(meta) => check_dir(path, &meta, what),
    }
}

fn check_dir(path: &Path, meta: &Metadata, what: &str) -> Result<(), String> {
    if meta.file_type().is_symlink() {
        return Err(refuse(
            what,
            path,
            "is a symlink",
            "give the real directory's path (a link could be repointed by whoever can change it)",
        ));
    }
    if !meta.is_dir() {
        return Err(refuse(what, path, "is not a directory", "give a directory"));
    }
    check_owner(path, meta, what, "use a directory of your own")?;
    if meta.mode() & 0o022 != 0 {
        return Err(refuse(
            what,
            path,
            &format!(
                "is writable by others (mode {:o}), who could replace the files in it",
                meta.mode() & 0o7777
            ),
            &format!("run `chmod 700 {}`", path.display()),
        ));
    }
    Ok(())
}

fn check_owner(path: &Path, meta: &Metadata, what: &str, fix: &str) -> Result<(), String> {
    let uid = current_uid();
    if meta.uid() == uid {
        Ok(())
    } else {
        Err(refuse(
            what,
            path,
            &format!(
                "belongs to user {} (this process runs as {uid})",
                meta.uid()
            ),
            fix,
        ))
    }
}

/// What [`open_private_file`] found.
pub enum Opened {
    /// Made now, 0600.
    Created(File),
    /// There before, and checked.
    Existing(File),
}

/// Opens `path` for reading and writing without following a symlink,
/// creating it 0600 when absent; an existing file must pass
/// [`check_private_file`].
pub fn open_private_file(path: &Path, what: &str) -> Result<Opened, String> {
    match OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => return Ok(Opened::Created(f)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {what} {}: {e}", path.display())),
    }
    open_existing(path, what, true).map(Opened::Existing)
}

/// Opens an existing private file without following a symlink. Checked
/// before opening (a directory or a FIFO is not opened at all) and again on
/// what was opened (the path may have been swapped in between).
pub fn open_existing(path: &Path, what: &str, write: bool) -> Result<File, String> {
    check_if_present(path, what)?;
    let file = open_nofollow(path, what, write)?;
    check_private_file(path, &file.metadata().map_err(|e| e.to_string())?, what)?;
    Ok(file)
}

/// Opens an existing file without following a symlink.
fn open_nofollow(path: &Path, what: &str, write: bool) -> Result<File, String> {
    OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                refuse(
                    what,
                    path,
                    "is a symlink",
                    "give the real file's path (a link could point anywhere, another application's files included)",
                )
            } else {
                format!("cannot open {what} {}: {e}", path.display())
            }
        })
}

/// A private file: regular, this user's, owner-only.
pub fn check_private_file(path: &Path, meta: &Metadata, what: &str) -> Result<(), String> {
    if meta.file_type().is_symlink() {
        return Err(refuse(
            what,
            path,
            "is a symlink",
            "give the real file's path",
        ));
    }
    if !meta.is_file() {
        return Err(refuse(
            what,
            path,
            "is not a file (a directory or a device)",
            "give a regular file",
        ));
    }
    check_owner(path, meta, what, "move it away, or give a file of your own")?;
    if meta.mode() & 0o077 != 0 {
        return Err(refuse(
            what,
            path,
            &format!(
                "can be read or written by others (mode {:o})",
                meta.mode() & 0o7777
            ),
            &format!(
                "if nobody else could have read it, run `chmod 600 {}`; otherwise treat what it holds as leaked",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// A file that must not exist as a link or as someone else's file (the
/// SQLite journal beside the store); absent is fine.
pub fn check_if_present(path: &Path, what: &str) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot inspect {what} {}: {e}", path.display())),
        Ok(meta) => check_private_file(path, &meta, what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn directories_must_be_ours_and_closed_to_writers() {
        let t = tempfile::tempdir().unwrap();
        let new = t.path().join("a/b");
        ensure_private_dir(&new, "the state directory").unwrap();
        assert_eq!(std::fs::metadata(&new).unwrap().mode() & 0o777, 0o700);
        chmod(&new, 0o777);
        let e = ensure_private_dir(&new, "the state directory").unwrap_err();
        assert!(
            e.contains("writable by others") && e.contains("chmod 700"),
            "{e}"
        );
        chmod(&new, 0o755);
        ensure_private_dir(&new, "the state directory").unwrap();
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&new, &link).unwrap();
        let e = ensure_private_dir(&link, "the state directory").unwrap_err();
        assert!(e.contains("is a symlink"), "{e}");
    }

    #[test]
    fn files_are_created_owner_only_and_loose_or_linked_ones_refused() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f");
        assert!(matches!(
            open_private_file(&p, "the file").unwrap(),
            Opened::Created(_)
        ));
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        assert!(matches!(
            open_private_file(&p, "the file").unwrap(),
            Opened::Existing(_)
        ));
        chmod(&p, 0o644);
        let e = open_private_file(&p, "the file").err().unwrap();
        assert!(e.contains("mode 644") && e.contains("chmod 600"), "{e}");
        // Never tightened behind the user's back.
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o644);
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        let e = open_private_file(&link, "the file").err().unwrap();
        assert!(e.contains("is a symlink"), "{e}");
        let e = check_if_present(&link, "the journal").unwrap_err();
        assert!(e.contains("is a symlink"), "{e}");
        check_if_present(&t.path().join("absent"), "the journal").unwrap();
    }
}
