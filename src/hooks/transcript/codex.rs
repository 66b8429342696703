//! Codex CLI's session files ("rollouts"): one JSON object a line, `{timestamp, type,
//! payload}`. What the user typed is an `event_msg` of type `user_message` (the
//! `response_item` user messages also carry injected instructions and environment context);
//! the assistant's text, its shell calls (`function_call` named `shell`, `shell_command` or
//! `exec_command`, arguments a JSON string), their outputs (`function_call_output`, whose
//! output is text starting `Exit code: N`, or older JSON with `metadata.exit_code`) and
//! patches (`apply_patch`, as a custom tool call or a function call) are `response_item`s.

use serde_json::Value;

use super::{exit_code, text_of, typed_by_user};
use crate::store::SessionEvent;

const SHELL_TOOLS: &[&str] = &["shell", "shell_command", "exec_command", "local_shell"];

pub(super) fn events(line: &Value, out: &mut Vec<SessionEvent>) {
    let Some(payload) = line.get("payload") else {
        return;
    };
    let kind = payload.get("type").and_then(Value::as_str).unwrap_or("");
    match (line.get("type").and_then(Value::as_str), kind) {
        (Some("event_msg"), "user_message") => {
            let text = payload.get("message").and_then(Value::as_str).unwrap_or("");
            if typed_by_user(text) {
                out.push(SessionEvent::Prompt(text.to_owned()));
            }
        }
        (Some("response_item"), "message")
            if payload.get("role").and_then(Value::as_str) == Some("assistant") =>
        {
            let text = payload.get("content").map(text_of).unwrap_or_default();
            if !text.trim().is_empty() {
                out.push(SessionEvent::Said(text));
            }
        }
        (Some("response_item"), "function_call" | "custom_tool_call") => call(payload, out),
        (Some("response_item"), "function_call_output" | "custom_tool_call_output") => {
            result(payload, out);
        }
        _ => {}
    }
}

fn call(payload: &Value, out: &mut Vec<SessionEvent>) {
    let name = payload.get("name").and_then(Value::as_str).unwrap_or("");
    let call_id = payload
        .get("call_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    // Function arguments are a JSON document in a string; a custom tool's input is raw text.
    let args: Value = payload
        .get("arguments")
        .and_then(Value::as_str)
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or(Value::Null);
    if name == "apply_patch" {
        let patch = payload
            .get("input")
            .and_then(Value::as_str)
            .or_else(|| args.get("input").and_then(Value::as_str))
            .unwrap_or("");
        for path in patched_files(patch) {
            out.push(SessionEvent::Edit { path });
        }
    } else if SHELL_TOOLS.contains(&name)
        && let Some(command) = command(&args)
    {
        out.push(SessionEvent::Command { call_id, command });
    }
}

/// The command line of shell arguments: `{"command": ["bash", "-lc", "…"]}`, `{"command":
/// "…"}` or `{"cmd": "…"}`.
fn command(args: &Value) -> Option<String> {
    match args.get("command").or_else(|| args.get("cmd"))? {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let parts: Vec<&str> = parts.iter().filter_map(Value::as_str).collect();
            match parts.as_slice() {
                [_, flag, script] if flag.ends_with('c') && flag.starts_with('-') => {
                    Some((*script).to_owned())
                }
                _ => Some(parts.join(" ")),
            }
        }
        _ => None,
    }
}

fn result(payload: &Value, out: &mut Vec<SessionEvent>) {
    let call_id = payload
        .get("call_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let raw = match payload.get("output") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => text_of(other),
        None => String::new(),
    };
    // Older versions wrap the output as JSON with its exit status in `metadata`.
    let wrapped: Option<Value> = serde_json::from_str(&raw).ok();
    let (output, code) = match wrapped.as_ref().and_then(|w| w.get("output")) {
        Some(inner) => (
            inner.as_str().unwrap_or_default().to_owned(),
            wrapped
                .as_ref()
                .and_then(|w| w.pointer("/metadata/exit_code"))
                .and_then(Value::as_i64)
                .and_then(|c| i32::try_from(c).ok()),
        ),
        None => {
            let code = exit_code(&raw);
            (raw, code)
        }
    };
    out.push(SessionEvent::Outcome {
        call_id,
        flagged: false,
        exit_code: code,
        output,
    });
}

/// Files a patch adds, updates or deletes.
fn patched_files(patch: &str) -> Vec<String> {
    patch
        .lines()
        .filter_map(|l| {
            ["*** Update File: ", "*** Add File: ", "*** Delete File: "]
                .iter()
                .find_map(|p| l.strip_prefix(p))
        })
        .map(|p| p.trim().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(line: Value) -> Vec<SessionEvent> {
        let mut out = Vec::new();
        events(&line, &mut out);
        out
    }

    #[test]
    fn shell_calls_outputs_and_patches() {
        let call = json!({"type": "response_item", "payload": {"type": "function_call",
            "name": "shell", "call_id": "c1",
            "arguments": "{\"command\":[\"bash\",\"-lc\",\"cargo test\"]}"}});
        assert_eq!(
            read(call),
            [SessionEvent::Command {
                call_id: "c1".into(),
                command: "cargo test".into()
            }]
        );
        let old = json!({"type": "response_item", "payload": {"type": "function_call_output",
            "call_id": "c1", "output": "{\"output\":\"boom\",\"metadata\":{\"exit_code\":1}}"}});
        assert!(
            matches!(&read(old)[0], SessionEvent::Outcome { exit_code: Some(1), output, .. } if output == "boom")
        );
        let patch = json!({"type": "response_item", "payload": {"type": "custom_tool_call",
            "name": "apply_patch", "call_id": "c2",
            "input": "*** Begin Patch\n*** Update File: src/a.rs\n@@\n-x\n+y\n*** End Patch"}});
        assert_eq!(
            read(patch),
            [SessionEvent::Edit {
                path: "src/a.rs".into()
            }]
        );
        let injected = json!({"type": "event_msg", "payload": {"type": "user_message",
            "message": "<environment_context>cwd</environment_context>"}});
        assert!(read(injected).is_empty());
    }
}
