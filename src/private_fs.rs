//! Files only their owner can read: the store, its replicas, the outbox, lock files and logs
//! hold memory text, so each is created owner-only from its first byte rather than restricted
//! afterwards. Below every layer that writes files (backends, sync, front ends).

use std::fs::{DirBuilder, File, OpenOptions};
use std::path::Path;

use crate::error::{Error, Result};

/// Creates `dir` and its parents, owner-only (0700), when missing.
pub fn create_dir(dir: &Path) -> Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| Error::Io {
        context: format!("cannot create the directory {}", dir.display()),
        source,
    })
}

/// Creates the parent directory of `path` when missing, owner-only.
pub fn create_parent(path: &Path) -> Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => create_dir(dir),
        None => Ok(()),
    }
}

/// Options that create a missing file owner-read/write (0600); an existing file keeps its
/// mode (see [`restrict`]).
pub fn open_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Creates `path` (and its directory) owner-only when missing, so a database opened on it is
/// private from the first byte; SQLite gives its -wal and -shm files the same mode.
pub fn create_file(path: &Path) -> Result<()> {
    create_parent(path)?;
    open_options()
        .append(true)
        .open(path)
        .map(drop)
        .map_err(|source| Error::Io {
            context: format!("cannot open the store file {}", path.display()),
            source,
        })
}

/// Opens (creating owner-only) `path` for writing without truncating it.
pub fn open_for_write(path: &Path) -> std::io::Result<File> {
    open_options().truncate(false).write(true).open(path)
}

/// Makes an existing `path` owner-read/write: for files a library created with its own mode.
pub fn restrict(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
                |source| Error::Io {
                    context: format!("cannot restrict the permissions of {}", path.display()),
                    source,
                },
            )?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn files_and_directories_are_created_owner_only() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("a/b/store.db");
        create_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&root.path().join("a/b")), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700);
    }

    #[test]
    fn restrict_tightens_an_existing_file_and_ignores_a_missing_one() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("loose");
        std::fs::write(&file, b"x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        restrict(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        restrict(&root.path().join("missing")).unwrap();
    }
}
