//! What a hook command prints, in each client's format.
//!
//! Claude Code, Codex and Gemini CLI all take JSON on stdout with
//! `hookSpecificOutput.additionalContext` for the session start and prompt events, and add
//! that text to the model's context. Gemini CLI parses stdout as JSON on every event, so it
//! gets `{}` when there is nothing to say; the others get nothing.

use serde_json::json;

use super::Client;

/// The client's name of the event a hook answers with context.
fn event_name(client: Client, prompt: bool) -> &'static str {
    match (client, prompt) {
        (_, false) => "SessionStart",
        (Client::Gemini, true) => "BeforeAgent",
        (_, true) => "UserPromptSubmit",
    }
}

/// The stdout of a session start (`prompt` false) or prompt hook adding `context`.
pub fn context(client: Client, prompt: bool, context: &str) -> String {
    if context.is_empty() {
        return nothing(client);
    }
    json!({
        "hookSpecificOutput": {
            "hookEventName": event_name(client, prompt),
            "additionalContext": context,
        }
    })
    .to_string()
}

/// The stdout of a hook with nothing to add.
pub fn nothing(client: Client) -> String {
    match client {
        Client::Gemini => "{}".to_owned(),
        Client::ClaudeCode | Client::Codex => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_gets_its_event_name() {
        let out: serde_json::Value =
            serde_json::from_str(&context(Client::Gemini, true, "x")).unwrap();
        assert_eq!(out["hookSpecificOutput"]["hookEventName"], "BeforeAgent");
        assert_eq!(out["hookSpecificOutput"]["additionalContext"], "x");
        assert_eq!(context(Client::ClaudeCode, false, ""), "");
        assert_eq!(context(Client::Gemini, false, ""), "{}");
    }
}
