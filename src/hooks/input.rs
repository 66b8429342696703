//! The JSON a client writes on a hook command's stdin. Claude Code, Codex and Gemini CLI
//! share the common fields (`session_id`, `transcript_path`, `cwd`, `hook_event_name`); the
//! rest depends on the event. Unknown fields are ignored, missing ones are `None`: a client
//! adding a field must not break a hook.

use std::path::PathBuf;

use serde::Deserialize;

/// Most bytes read from stdin: hook input is a few hundred bytes, a long prompt a few
/// hundred kilobytes.
pub const MAX_INPUT_BYTES: u64 = 4 << 20;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct HookInput {
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub transcript_path: Option<PathBuf>,
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    #[serde(default)]
    pub hook_event_name: Option<String>,
    /// Session start: `startup`, `resume`, `clear`, `compact`.
    #[serde(default)]
    pub source: Option<String>,
    /// Prompt submission: what the user typed.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Compaction: `manual` or `auto`; Gemini's session start and end.
    #[serde(default)]
    pub trigger: Option<String>,
    /// Session end: why (`clear`, `logout`, `prompt_input_exit`, `other`).
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("the hook input is not JSON of a hook event: {0}")]
    Json(#[from] serde_json::Error),
}

impl HookInput {
    /// Reads the hook input; empty input (a hook run by hand) is an input with no fields.
    pub fn parse(bytes: &[u8]) -> Result<HookInput, InputError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(HookInput::default());
        }
        Ok(serde_json::from_slice(bytes)?)
    }

    /// Whether the event is the end of the session (capture has least time then).
    pub fn is_session_end(&self) -> bool {
        self.hook_event_name
            .as_deref()
            .is_some_and(|e| e == "SessionEnd")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_event_and_ignores_what_it_does_not_know() {
        let input = HookInput::parse(
            br#"{"session_id":"abc","transcript_path":"/t.jsonl","cwd":"/p",
                 "hook_event_name":"UserPromptSubmit","prompt":"hi","permission_mode":"x"}"#,
        )
        .unwrap();
        assert_eq!(input.prompt.as_deref(), Some("hi"));
        assert_eq!(input.cwd, Some(PathBuf::from("/p")));
        assert_eq!(HookInput::parse(b" \n").unwrap(), HookInput::default());
        assert!(HookInput::parse(b"[1,2]").is_err());
    }
}
