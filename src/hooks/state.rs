//! Where the last capture of a session stopped: one small JSON file per session under the
//! data directory (`<data dir>/hooks/<namespace>/<client>-<session>.json`, owner-only), with
//! the transcript offset and the store's [`CaptureState`].
//!
//! A file rather than a row in the store: the offset is a position in a file on this
//! machine, meaningless to another device, and a row would be synced to every device of a
//! replica setup on every turn. A session's file is locked while a capture runs, so two hooks
//! of one session (a Stop and a SessionEnd in quick succession) never read the same lines
//! twice; files untouched for [`KEEP_DAYS`] are removed.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::Client;
use crate::error::{Error, Result};
use crate::private_fs;
use crate::store::CaptureState;

/// Days a session's state is kept after its last capture (a session resumed later than
/// that is read again from its start; the records' ids keep that from duplicating).
pub const KEEP_DAYS: u64 = 30;

/// What is kept for one session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionState {
    /// Bytes of the transcript already captured.
    pub offset: u64,
    /// The transcript the offset is in: another file starts again from 0.
    #[serde(default)]
    pub transcript: Option<PathBuf>,
    #[serde(default)]
    pub capture: CaptureState,
}

/// A session's state file, locked until dropped.
pub struct StateFile {
    file: File,
    pub state: SessionState,
}

impl StateFile {
    /// Opens and locks the state of `session_id` of `client` in `dir`, waiting for another
    /// capture of the session until `deadline`. A damaged file starts the state afresh.
    pub fn open(dir: &Path, client: Client, session_id: &str, deadline: Instant) -> Result<Self> {
        private_fs::create_dir(dir)?;
        prune(dir);
        let path = dir.join(format!(
            "{}-{}.json",
            client.as_str(),
            file_name(session_id)
        ));
        let io = |source| Error::Io {
            context: format!("cannot use the capture state {}", path.display()),
            source,
        };
        let mut file = private_fs::open_options()
            .read(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(rustix::io::Errno::WOULDBLOCK) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(errno) => return Err(io(errno.into())),
            }
        }
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(io)?;
        let state = serde_json::from_str(&text).unwrap_or_default();
        Ok(StateFile { file, state })
    }

    /// Writes the state back.
    pub fn save(&mut self) -> Result<()> {
        let io = |source| Error::Io {
            context: "cannot write the capture state".into(),
            source,
        };
        let json = serde_json::to_vec(&self.state).expect("the state serializes");
        self.file.set_len(0).map_err(io)?;
        self.file.seek(SeekFrom::Start(0)).map_err(io)?;
        self.file.write_all(&json).map_err(io)?;
        self.file.sync_data().map_err(io)
    }
}

/// A session id as a file name: kept when it is plain (client ids are UUIDs), else a digest.
fn file_name(session_id: &str) -> String {
    let plain = !session_id.is_empty()
        && session_id.len() <= 100
        && session_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if plain {
        session_id.to_owned()
    } else {
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, session_id.as_bytes()).to_string()
    }
}

/// Removes state files not written for [`KEEP_DAYS`]. Best effort: a file another process
/// holds or that vanished is left to the next capture.
fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let keep = Duration::from_secs(KEEP_DAYS * 86_400);
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > keep);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_survives_and_odd_session_ids_stay_inside_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut f = StateFile::open(dir.path(), Client::Codex, "../../etc/x", deadline).unwrap();
        f.state.offset = 42;
        f.save().unwrap();
        drop(f);
        let again = StateFile::open(dir.path(), Client::Codex, "../../etc/x", deadline).unwrap();
        assert_eq!(again.state.offset, 42);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1);
    }
}
