//! Reading a session's transcript from where the last capture stopped, in the client's
//! format, into [`SessionEvent`]s.
//!
//! Claude Code's and Codex's transcripts are JSON Lines files the client appends to. A
//! capture reads whole lines only: the last line may still be being written when a hook
//! fires (the client has not flushed its last messages yet), so it is left for the next
//! capture, which starts at the returned offset. A line that is not JSON is skipped, never
//! fatal. Gemini CLI rewrites messages it already recorded, so its recording is read whole
//! and the position is a count of messages (see `gemini.rs`).

mod claude;
mod codex;
mod gemini;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde_json::Value;

use super::Client;
use crate::store::SessionEvent;

/// Most bytes one capture reads: a long session's transcript is read over several captures
/// rather than past the hook's time budget.
pub const MAX_READ_BYTES: u64 = 32 << 20;

/// The events read after `offset`, and the offset after the last one read: bytes of whole
/// lines, or for Gemini CLI messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chunk {
    pub events: Vec<SessionEvent>,
    pub offset: u64,
    /// Lines that were not JSON.
    pub skipped: usize,
}

/// Reads `path` from `offset` in `client`'s format.
pub fn read(client: Client, path: &Path, offset: u64) -> std::io::Result<Chunk> {
    match client {
        Client::ClaudeCode => read_lines(path, offset, claude::events),
        Client::Codex => read_lines(path, offset, codex::events),
        Client::Gemini => gemini::read(path, offset),
    }
}

/// The events of a JSON Lines transcript, each line read by `events`. A file now shorter
/// than `offset` was replaced, and is read from its start.
fn read_lines(
    path: &Path,
    offset: u64,
    events: fn(&Value, &mut Vec<SessionEvent>),
) -> std::io::Result<Chunk> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let start = if offset > len { 0 } else { offset };
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(MAX_READ_BYTES).read_to_end(&mut bytes)?;
    let whole = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(last) => last + 1,
        // One line longer than a whole read is skipped rather than read forever.
        None if bytes.len() as u64 == MAX_READ_BYTES => bytes.len(),
        None => 0,
    };
    let mut read = Chunk {
        offset: start + whole as u64,
        ..Chunk::default()
    };
    for line in bytes[..whole].split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(value) => events(&value, &mut read.events),
            Err(_) => read.skipped += 1,
        }
    }
    Ok(read)
}

/// The text of a message content that is a string or an array of blocks with `text`.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The exit status a tool result's text starts with (`Exit code 2`, `Exit code: 2`,
/// `Process exited with code 2`), if any.
fn exit_code(output: &str) -> Option<i32> {
    let first = output.lines().next()?.trim();
    let rest = first
        .strip_prefix("Exit code")
        .or_else(|| first.strip_prefix("Process exited with code"))?;
    rest.trim_start_matches([':', ' '])
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether text a client put in a user turn was typed by the user: not an injected reminder,
/// command output, slash command, notification or instructions file.
fn typed_by_user(text: &str) -> bool {
    let t = text.trim_start();
    !t.is_empty()
        && !t.starts_with('<')
        && !t.starts_with("Caveat:")
        && !t.starts_with("[Request interrupted")
        && !t.starts_with("# AGENTS.md")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_in_their_spellings() {
        assert_eq!(exit_code("Exit code 101\nerror"), Some(101));
        assert_eq!(exit_code("Exit code: 2\nWall time: 1s"), Some(2));
        assert_eq!(exit_code("Process exited with code 0"), Some(0));
        assert_eq!(exit_code("all good"), None);
    }

    #[test]
    fn a_line_still_being_written_waits_for_the_next_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let done = r#"{"type":"user","message":{"role":"user","content":"first thing to do"}}"#;
        std::fs::write(
            &path,
            format!("{done}\nnot json\n{{\"type\":\"user\",\"mess"),
        )
        .unwrap();
        let read = read(Client::ClaudeCode, &path, 0).unwrap();
        assert_eq!(read.events.len(), 1);
        assert_eq!(read.skipped, 1);
        assert_eq!(read.offset as usize, done.len() + "\nnot json\n".len());
        let again = super::read(Client::ClaudeCode, &path, read.offset).unwrap();
        assert!(again.events.is_empty());
        assert_eq!(again.offset, read.offset);
    }
}
