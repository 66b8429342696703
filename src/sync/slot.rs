//! One replica file per process.
//!
//! libSQL's embedded replica applies the primary's frames to its file from inside the
//! process that opened it, and keeps its replication position in a side file: two processes
//! syncing one replica file would each inject frames the other does not know about. So every
//! process (each assistant session's server, each `memctl` run) takes a *slot*: a replica file
//! guarded by an exclusive advisory lock held for the process's lifetime. Slots are reused
//! across runs, so only the first use of a slot downloads the store; the lock is released by
//! the kernel when the process exits, however it exits.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::private_fs;

/// Most replica files per namespace: more concurrent processes than this is a mistake.
pub const MAX_SLOTS: usize = 16;

/// An exclusive advisory lock on a file, held until dropped.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
    path: PathBuf,
}

impl FileLock {
    /// Takes the lock on `path` (creating the file, owner-only) without waiting: `None` when
    /// another process holds it.
    pub fn try_acquire(path: &Path) -> Result<Option<FileLock>> {
        let io = |source| Error::Io {
            context: format!("cannot open the lock file {}", path.display()),
            source,
        };
        let file = private_fs::open_for_write(path).map_err(io)?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(FileLock {
                _file: file,
                path: path.to_owned(),
            })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(errno) => Err(io(errno.into())),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A replica file this process owns until the slot is dropped.
#[derive(Debug)]
pub struct Slot {
    pub index: usize,
    /// The replica database file.
    pub db: PathBuf,
    _lock: FileLock,
}

impl Slot {
    /// Takes the lowest free slot in `dir` (created owner-only if missing).
    pub fn acquire(dir: &Path) -> Result<Slot> {
        private_fs::create_dir(dir)?;
        for index in 0..MAX_SLOTS {
            if let Some(lock) = FileLock::try_acquire(&dir.join(format!("slot-{index}.lock")))? {
                return Ok(Slot {
                    index,
                    db: dir.join(format!("slot-{index}.db")),
                    _lock: lock,
                });
            }
        }
        Err(Error::invalid(
            "replica",
            format!(
                "all {MAX_SLOTS} replica slots in {} are in use by other processes; \
                 close some mnemograph or memctl processes, or use remote mode",
                dir.display()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_holder_gets_its_own_slot_and_a_released_slot_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = Slot::acquire(dir.path()).unwrap();
        let b = Slot::acquire(dir.path()).unwrap();
        assert_eq!((a.index, b.index), (0, 1));
        assert_ne!(a.db, b.db);
        drop(a);
        let c = Slot::acquire(dir.path()).unwrap();
        assert_eq!(c.index, 0, "the lowest free slot is reused");
    }

    #[test]
    fn a_held_lock_is_refused_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = FileLock::try_acquire(&path).unwrap().expect("free");
        assert!(FileLock::try_acquire(&path).unwrap().is_none());
        drop(held);
        assert!(FileLock::try_acquire(&path).unwrap().is_some());
    }
}
