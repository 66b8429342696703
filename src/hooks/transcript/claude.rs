//! Claude Code's transcript: one JSON object a line, `type` `user`, `assistant`, `summary`,
//! `system` and others. A message's `content` is a string or an array of blocks: `text`,
//! `tool_use {id, name, input}`, `tool_result {tool_use_id, content, is_error}` (content a
//! string or an array of text blocks). A Bash result has no exit-code field; recent versions
//! start a failing one with `Exit code N`. Many `user` lines were not typed by the user:
//! `isMeta` lines, slash commands and their output, task notifications, and a subagent's
//! lines (`isSidechain`), which are skipped whole.

use serde_json::Value;

use super::{exit_code, text_of, typed_by_user};
use crate::store::SessionEvent;

/// Tools that change a file, and the input field naming it.
const EDIT_TOOLS: &[(&str, &str)] = &[
    ("Edit", "file_path"),
    ("MultiEdit", "file_path"),
    ("Write", "file_path"),
    ("NotebookEdit", "notebook_path"),
];

pub(super) fn events(line: &Value, out: &mut Vec<SessionEvent>) {
    let flag = |name: &str| line.get(name).and_then(Value::as_bool).unwrap_or(false);
    if flag("isSidechain") || flag("isMeta") {
        return;
    }
    let Some(content) = line.get("message").and_then(|m| m.get("content")) else {
        return;
    };
    match line.get("type").and_then(Value::as_str) {
        Some("user") => user(content, out),
        Some("assistant") => assistant(content, out),
        _ => {}
    }
}

fn user(content: &Value, out: &mut Vec<SessionEvent>) {
    let blocks = match content {
        Value::String(text) => {
            if typed_by_user(text) {
                out.push(SessionEvent::Prompt(text.clone()));
            }
            return;
        }
        Value::Array(blocks) => blocks,
        _ => return,
    };
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                let text = block.get("text").and_then(Value::as_str).unwrap_or("");
                if typed_by_user(text) {
                    out.push(SessionEvent::Prompt(text.to_owned()));
                }
            }
            Some("tool_result") => {
                let output = block.get("content").map(text_of).unwrap_or_default();
                out.push(SessionEvent::Outcome {
                    call_id: str_field(block, "tool_use_id"),
                    flagged: block
                        .get("is_error")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    exit_code: exit_code(&output),
                    output,
                });
            }
            _ => {}
        }
    }
}

fn assistant(content: &Value, out: &mut Vec<SessionEvent>) {
    let Value::Array(blocks) = content else {
        let text = text_of(content);
        if !text.trim().is_empty() {
            out.push(SessionEvent::Said(text));
        }
        return;
    };
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                let text = block.get("text").and_then(Value::as_str).unwrap_or("");
                if !text.trim().is_empty() {
                    out.push(SessionEvent::Said(text.to_owned()));
                }
            }
            Some("tool_use") => tool_use(block, out),
            _ => {}
        }
    }
}

fn tool_use(block: &Value, out: &mut Vec<SessionEvent>) {
    let name = block.get("name").and_then(Value::as_str).unwrap_or("");
    let input = block.get("input").unwrap_or(&Value::Null);
    if name == "Bash" {
        if let Some(command) = input.get("command").and_then(Value::as_str) {
            out.push(SessionEvent::Command {
                call_id: str_field(block, "id"),
                command: command.to_owned(),
            });
        }
    } else if let Some((_, field)) = EDIT_TOOLS.iter().find(|(tool, _)| *tool == name)
        && let Some(path) = input.get(*field).and_then(Value::as_str)
    {
        out.push(SessionEvent::Edit {
            path: path.to_owned(),
        });
    }
}

fn str_field(value: &Value, name: &str) -> String {
    value
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
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
    fn user_lines_not_typed_by_the_user_are_skipped() {
        let content = |c: Value| json!({"type": "user", "message": {"role": "user", "content": c}});
        assert_eq!(read(content(json!("fix the build"))).len(), 1);
        assert!(read(content(json!("<command-name>/clear</command-name>"))).is_empty());
        let mut meta = content(json!("Caveat: the messages below"));
        assert!(read(meta.clone()).is_empty());
        meta["isMeta"] = json!(true);
        meta["message"]["content"] = json!("looks typed");
        assert!(read(meta).is_empty());
        let mut side = content(json!("subagent prompt"));
        side["isSidechain"] = json!(true);
        assert!(read(side).is_empty());
        assert!(read(json!({"type": "summary", "summary": "x", "leafUuid": "u"})).is_empty());
    }

    #[test]
    fn tool_calls_and_results_in_both_content_shapes() {
        let call = json!({"type": "assistant", "message": {"content": [
            {"type": "text", "text": "Running tests"},
            {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "cargo test"}},
            {"type": "tool_use", "id": "t2", "name": "Edit", "input": {"file_path": "/r/a.rs"}}
        ]}});
        assert_eq!(read(call).len(), 3);
        let result = json!({"type": "user", "message": {"content": [
            {"type": "tool_result", "tool_use_id": "t1", "is_error": true,
             "content": [{"type": "text", "text": "Exit code 101\nerror: boom"}]}
        ]}});
        assert_eq!(
            read(result),
            [SessionEvent::Outcome {
                call_id: "t1".into(),
                flagged: true,
                exit_code: Some(101),
                output: "Exit code 101\nerror: boom".into()
            }]
        );
    }
}
