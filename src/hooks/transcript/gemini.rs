//! Gemini CLI's chat recording (`~/.gemini/tmp/<project>/chats/session-*.json[l]`), in its
//! two shapes:
//!
//! - **JSON Lines** (current versions): a metadata line (`sessionId`, `projectHash`, `kind`),
//!   then message records appended as they change: a message is written again, whole, under
//!   the same `id` when its tool calls or tokens are filled in; `{"$rewindTo": id}` drops
//!   that message and everything after it; `{"$set": {…}}` updates the metadata, and a
//!   `$set` of `messages` replaces the whole list.
//! - **One JSON document** (earlier versions, rewritten whole on every change):
//!   `{sessionId, projectHash, startTime, lastUpdated, messages: […]}`.
//!
//! A message is `{id, type, content, displayContent?, toolCalls?}`: `type` is `user`,
//! `gemini`, or `info`/`error`/`warning` (the CLI's own notices, skipped); `content` is a
//! string or an array of parts (`{text}`, `{functionResponse}`, …). A tool call is
//! `{id, name, args, status, result, resultDisplay}`: `run_shell_command` (`args.command`)
//! whose result text is `Output: …` followed by `Exit Code: N` when the command failed;
//! `replace`, `write_file` and `edit` (`args.file_path`) change a file.
//!
//! Since messages change after they are written, the transcript is read whole each time and
//! the position kept between captures is a count of messages, not bytes: a capture reads the
//! messages after the last one it read, and stops before a message whose tool calls are not
//! finished yet (the next capture reads it complete).

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use super::{Chunk, MAX_READ_BYTES, text_of, typed_by_user};
use crate::store::SessionEvent;

const SHELL_TOOL: &str = "run_shell_command";
/// Tools that change a file, all naming it `file_path`.
const EDIT_TOOLS: &[&str] = &["replace", "write_file", "edit"];
/// Statuses of a tool call that is done; any other (`scheduled`, `executing`,
/// `awaiting_approval`, …) is still running.
const FINISHED: &[&str] = &["success", "error", "cancelled"];
/// Lines the shell tool adds after a command's output.
const SHELL_TRAILERS: &[&str] = &[
    "Error: (none)",
    "Exit Code: ",
    "Signal: ",
    "Background PIDs: ",
    "Process Group PGID: ",
];

/// Reads the messages of the recording at `path` after the first `read` of them.
pub(super) fn read(path: &Path, read: u64) -> std::io::Result<Chunk> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_READ_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_READ_BYTES {
        return Err(std::io::Error::other(format!(
            "the recording is larger than {} MiB",
            MAX_READ_BYTES >> 20
        )));
    }
    let (list, skipped) = messages(&bytes);
    let start = (read as usize).min(list.len());
    let mut chunk = Chunk {
        skipped,
        ..Chunk::default()
    };
    let mut done = start;
    for message in &list[start..] {
        if !finished(message) {
            break;
        }
        message_events(message, &mut chunk.events);
        done += 1;
    }
    chunk.offset = done as u64;
    Ok(chunk)
}

/// The conversation's messages in order, and the lines that were not JSON. A subagent's
/// recording has none: its work reaches the main session as a tool result.
fn messages(bytes: &[u8]) -> (Vec<Value>, usize) {
    if let Ok(Value::Object(mut document)) = serde_json::from_slice::<Value>(bytes)
        && let Some(Value::Array(messages)) = document.remove("messages")
    {
        if is_subagent(document.get("kind")) {
            return (Vec::new(), 0);
        }
        return (messages, 0);
    }
    let mut messages: Vec<Value> = Vec::new();
    let mut skipped = 0;
    for line in bytes.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(record) = serde_json::from_slice::<Value>(line) else {
            skipped += 1;
            continue;
        };
        if let Some(id) = record.get("$rewindTo").and_then(Value::as_str) {
            let at = messages.iter().position(|m| id_of(m) == Some(id));
            messages.truncate(at.unwrap_or(0));
        } else if let Some(Value::Array(all)) = record.get("$set").and_then(|s| s.get("messages")) {
            messages = all.clone();
        } else if let Some(id) = id_of(&record) {
            match messages.iter().position(|m| id_of(m) == Some(id)) {
                Some(i) => messages[i] = record,
                None => messages.push(record),
            }
        } else if record.get("sessionId").is_some() && is_subagent(record.get("kind")) {
            return (Vec::new(), skipped);
        }
    }
    (messages, skipped)
}

/// Whether the `kind` of a recording's metadata makes it a subagent's.
fn is_subagent(kind: Option<&Value>) -> bool {
    kind.and_then(Value::as_str) == Some("subagent")
}

fn id_of(message: &Value) -> Option<&str> {
    message.get("id").and_then(Value::as_str)
}

fn tool_calls(message: &Value) -> &[Value] {
    message
        .get("toolCalls")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Whether every tool call of `message` is done (a message without calls is).
fn finished(message: &Value) -> bool {
    tool_calls(message).iter().all(|call| {
        call.get("status")
            .and_then(Value::as_str)
            .is_some_and(|s| FINISHED.contains(&s))
    })
}

fn message_events(message: &Value, out: &mut Vec<SessionEvent>) {
    match message.get("type").and_then(Value::as_str) {
        Some("user") => {
            // What the user typed, before `@file` references were expanded into it.
            let shown = message
                .get("displayContent")
                .filter(|c| !c.is_null())
                .or_else(|| message.get("content"));
            let text = shown.map(text_of).unwrap_or_default();
            if typed_by_user(&text) {
                out.push(SessionEvent::Prompt(text));
            }
        }
        Some("gemini") => {
            let text = message.get("content").map(text_of).unwrap_or_default();
            if !text.trim().is_empty() {
                out.push(SessionEvent::Said(text));
            }
            for call in tool_calls(message) {
                tool_call(call, out);
            }
        }
        _ => {}
    }
}

fn tool_call(call: &Value, out: &mut Vec<SessionEvent>) {
    let name = call.get("name").and_then(Value::as_str).unwrap_or("");
    let args = call.get("args").unwrap_or(&Value::Null);
    let call_id = call
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if name == SHELL_TOOL {
        let Some(command) = args.get("command").and_then(Value::as_str) else {
            return;
        };
        let text = result_text(call);
        out.push(SessionEvent::Command {
            call_id: call_id.clone(),
            command: command.to_owned(),
        });
        out.push(SessionEvent::Outcome {
            call_id,
            flagged: call.get("status").and_then(Value::as_str) == Some("error"),
            exit_code: shell_exit_code(&text),
            output: shell_output(&text),
        });
    } else if EDIT_TOOLS.contains(&name)
        && call.get("status").and_then(Value::as_str) == Some("success")
        && let Some(path) = args.get("file_path").and_then(Value::as_str)
    {
        out.push(SessionEvent::Edit {
            path: path.to_owned(),
        });
    }
}

/// The text a tool call returned to the model: the `output` (or `error`) of its function
/// response, else what the CLI displayed.
fn result_text(call: &Value) -> String {
    let mut parts = Vec::new();
    match call.get("result") {
        Some(Value::String(s)) => parts.push(s.clone()),
        Some(Value::Array(items)) => {
            for item in items {
                let response = item.get("functionResponse").and_then(|f| f.get("response"));
                let said = response
                    .and_then(|r| r.get("output").or_else(|| r.get("error")))
                    .or_else(|| item.get("text"))
                    .and_then(Value::as_str);
                parts.extend(said.map(str::to_owned));
            }
        }
        _ => {}
    }
    if parts.is_empty()
        && let Some(shown) = call.get("resultDisplay").and_then(Value::as_str)
    {
        parts.push(shown.to_owned());
    }
    parts.join("\n")
}

/// The exit status the shell tool reports after a failing command's output (`Exit Code: 2`).
fn shell_exit_code(text: &str) -> Option<i32> {
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix("Exit Code: "))
        .and_then(|n| n.trim().parse().ok())
}

/// The command's own output in the shell tool's result: without the `Command:`,
/// `Directory:` and `Output:` labels of older versions, and the status lines after it.
fn shell_output(text: &str) -> String {
    let mut lines: Vec<&str> = text
        .lines()
        .skip_while(|l| l.starts_with("Command: ") || l.starts_with("Directory: "))
        .collect();
    while lines
        .last()
        .is_some_and(|l| SHELL_TRAILERS.iter().any(|t| l.starts_with(t)))
    {
        lines.pop();
    }
    let joined = lines.join("\n");
    match joined.strip_prefix("Output: ") {
        Some(rest) if rest.trim() == "(empty)" => String::new(),
        Some(rest) => rest.to_owned(),
        None => joined,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn shell(id: &str, command: &str, status: &str, output: &str) -> Value {
        json!({"id": id, "name": "run_shell_command", "args": {"command": command},
               "status": status, "result": [{"functionResponse": {"id": id,
               "name": "run_shell_command", "response": {"output": output}}}]})
    }

    fn jsonl(records: &[Value]) -> Vec<u8> {
        records
            .iter()
            .map(|r| format!("{r}\n"))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn a_failing_command_reads_as_its_output_and_exit_code() {
        let call = shell(
            "c1",
            "cargo test",
            "success",
            "Output: error[E0308]: mismatched types\nExit Code: 101\nProcess Group PGID: 7",
        );
        let mut out = Vec::new();
        tool_call(&call, &mut out);
        assert_eq!(
            out[1],
            SessionEvent::Outcome {
                call_id: "c1".into(),
                flagged: false,
                exit_code: Some(101),
                output: "error[E0308]: mismatched types".into()
            }
        );
        let old = "Command: make\nDirectory: (root)\nOutput: done\nError: (none)\nExit Code: 0";
        assert_eq!(shell_output(old), "done");
        assert_eq!(shell_exit_code(old), Some(0));
    }

    #[test]
    fn rewritten_messages_replace_their_earlier_line_and_a_rewind_drops_the_rest() {
        let meta = json!({"sessionId": "s", "projectHash": "h", "startTime": "t"});
        let pending = json!({"id": "g1", "type": "gemini", "content": "",
            "toolCalls": [{"id": "c1", "name": "run_shell_command",
                           "args": {"command": "ls"}, "status": "executing"}]});
        let done = json!({"id": "g1", "type": "gemini", "content": "",
            "toolCalls": [shell("c1", "ls", "success", "Output: a")]});
        let user =
            |id: &str, text: &str| json!({"id": id, "type": "user", "content": [{"text": text}]});
        let bytes = jsonl(&[meta.clone(), user("u1", "list the files"), pending.clone()]);
        let (list, _) = messages(&bytes);
        assert_eq!(list.len(), 2);
        assert!(!finished(&list[1]), "a running call waits");

        let bytes = jsonl(&[
            meta,
            user("u1", "list the files"),
            pending,
            done,
            user("u2", "oops"),
            json!({"$rewindTo": "u2"}),
            json!({"$set": {"lastUpdated": "t2"}}),
            user("u3", "now the tests"),
        ]);
        let (list, skipped) = messages(&bytes);
        assert_eq!(skipped, 0);
        let ids: Vec<&str> = list.iter().filter_map(id_of).collect();
        assert_eq!(ids, ["u1", "g1", "u3"]);
        assert!(finished(&list[1]));
    }

    #[test]
    fn a_subagent_recording_holds_nothing_to_capture() {
        let bytes = jsonl(&[
            json!({"sessionId": "s", "projectHash": "h", "kind": "subagent"}),
            json!({"id": "u1", "type": "user", "content": "instructions for the subagent"}),
        ]);
        assert!(messages(&bytes).0.is_empty());
    }
}
