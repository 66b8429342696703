//! The hooks front end: what coding assistants send a hook command and expect back, in each
//! client's own format. [`input`] reads the hook's JSON, [`output`] answers it, [`transcript`]
//! reads a session's transcript into the store's [`crate::store::SessionEvent`]s,
//! [`state`] keeps where the last capture of a session stopped, and [`install`] merges the
//! hook commands into a client's settings. Like every front end this only translates: what a
//! briefing holds and what a capture keeps are store rules (`store/briefing.rs`,
//! `store/capture.rs`).

pub mod input;
pub mod install;
pub mod output;
pub mod state;
pub mod transcript;

use serde::{Deserialize, Serialize};

/// A coding assistant whose hooks memctl answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Client {
    /// Claude Code (`~/.claude/settings.json`)
    ClaudeCode,
    /// OpenAI Codex CLI (`~/.codex/hooks.json`)
    Codex,
    /// Google Gemini CLI (`~/.gemini/settings.json`)
    Gemini,
}

impl Client {
    pub const ALL: [Client; 3] = [Client::ClaudeCode, Client::Codex, Client::Gemini];

    pub fn as_str(self) -> &'static str {
        match self {
            Client::ClaudeCode => "claude-code",
            Client::Codex => "codex",
            Client::Gemini => "gemini",
        }
    }
}

/// What a hook command does, whatever the client calls the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum HookEvent {
    /// A session starts: print the project's briefing.
    SessionStart,
    /// The user sent a prompt: print the memories clearly relevant to it, if any.
    Prompt,
    /// Before compaction, after a turn, at the end: store what the transcript taught.
    Capture,
}

impl HookEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            HookEvent::SessionStart => "session-start",
            HookEvent::Prompt => "prompt",
            HookEvent::Capture => "capture",
        }
    }
}
