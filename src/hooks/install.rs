//! Merging memctl's hook commands into a client's own settings, and taking them out again.
//!
//! Claude Code keeps hooks in `settings.json` (`~/.claude/`, or `.claude/` in a project),
//! Codex in `hooks.json` (`~/.codex/`, or `.codex/` in a project) and Gemini CLI in
//! `settings.json` (`~/.gemini/`, or `.gemini/`); all three use the same shape: `hooks` maps
//! an event name to groups `{matcher, hooks: [{type: "command", command, timeout}]}`. An
//! install keeps every other setting and hook, replaces memctl's own entries (so installing
//! twice changes nothing), backs the file up before changing it and writes it atomically; an
//! uninstall removes memctl's entries and what only they filled.
//!
//! memctl's entries are recognised by their command: a program named `memctl` running its
//! `hook` command. Settings files are rewritten with their keys in alphabetical order.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::{Client, HookEvent};

/// Where the settings are: the user's (every session) or one project's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Scope {
    #[default]
    User,
    Project,
}

/// One hook memctl registers: the client's event, what memctl does on it, its time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    pub event: &'static str,
    pub hook: HookEvent,
    /// Seconds the client lets the hook run.
    pub timeout: u32,
}

const fn reg(event: &'static str, hook: HookEvent, timeout: u32) -> Registration {
    Registration {
        event,
        hook,
        timeout,
    }
}

/// The hooks registered for each client. Gemini CLI's AfterAgent fires after each turn, as
/// Stop does for the others.
pub fn registrations(client: Client) -> &'static [Registration] {
    match client {
        Client::ClaudeCode => CLAUDE_CODE,
        Client::Codex => CODEX,
        Client::Gemini => GEMINI,
    }
}

const CLAUDE_CODE: &[Registration] = &[
    reg("SessionStart", HookEvent::SessionStart, 10),
    reg("UserPromptSubmit", HookEvent::Prompt, 5),
    reg("PreCompact", HookEvent::Capture, 30),
    reg("Stop", HookEvent::Capture, 30),
    reg("SessionEnd", HookEvent::Capture, 5),
];
const CODEX: &[Registration] = &[
    reg("SessionStart", HookEvent::SessionStart, 10),
    reg("UserPromptSubmit", HookEvent::Prompt, 5),
    reg("PreCompact", HookEvent::Capture, 30),
    reg("Stop", HookEvent::Capture, 30),
];
const GEMINI: &[Registration] = &[
    reg("SessionStart", HookEvent::SessionStart, 10),
    reg("BeforeAgent", HookEvent::Prompt, 5),
    reg("PreCompress", HookEvent::Capture, 30),
    reg("AfterAgent", HookEvent::Capture, 30),
    reg("SessionEnd", HookEvent::Capture, 5),
];

/// A registration's time limit in the unit of `client`'s settings: Gemini CLI counts
/// milliseconds, the others seconds.
fn timeout_in_settings(client: Client, seconds: u32) -> u32 {
    match client {
        Client::Gemini => seconds * 1000,
        Client::ClaudeCode | Client::Codex => seconds,
    }
}

/// The settings file of `client` in `scope`: under `home` for the user, `project` else.
pub fn settings_path(client: Client, scope: Scope, home: &Path, project: &Path) -> PathBuf {
    let base = match scope {
        Scope::User => home,
        Scope::Project => project,
    };
    match client {
        Client::ClaudeCode => base.join(".claude/settings.json"),
        Client::Codex => base.join(".codex/hooks.json"),
        Client::Gemini => base.join(".gemini/settings.json"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON ({reason}); fix it or move it away, nothing was changed")]
    NotJson { path: PathBuf, reason: String },
    #[error("{path}: {what} is not a JSON object; nothing was changed")]
    Shape { path: PathBuf, what: String },
}

/// A change to a settings file, computed before anything is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub path: PathBuf,
    /// Whether the file exists now.
    pub existed: bool,
    /// The settings after the change.
    pub after: Value,
    /// `event: command` of the entries added and removed.
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Whether anything changes.
    pub changed: bool,
}

/// Whether `command` is one of memctl's hook commands.
pub fn is_ours(command: &str) -> bool {
    let words: Vec<&str> = command.split_whitespace().collect();
    words
        .iter()
        .position(|w| {
            let w = w.trim_matches(['\'', '"']);
            w == "memctl" || w.ends_with("/memctl")
        })
        .is_some_and(|at| words[at + 1..].contains(&"hook"))
}

/// The entries memctl has in the settings at `path`: `(event, command)`.
pub fn installed(path: &Path) -> Result<Vec<(String, String)>, InstallError> {
    let settings = read(path)?.unwrap_or_else(|| json!({}));
    let mut out = Vec::new();
    if let Some(Value::Object(hooks)) = settings.get("hooks") {
        for (event, groups) in hooks {
            for command in commands(groups) {
                if is_ours(&command) {
                    out.push((event.clone(), command));
                }
            }
        }
    }
    Ok(out)
}

/// Installs `client`'s hooks into the settings at `path`; `command` gives the command line
/// of each hook.
pub fn plan_install(
    client: Client,
    path: &Path,
    command: impl Fn(HookEvent) -> String,
) -> Result<Plan, InstallError> {
    let before = read(path)?;
    let existed = before.is_some();
    let mut after = before.clone().unwrap_or_else(|| json!({}));
    let removed = remove_ours(path, &mut after)?;
    let hooks = hooks_object(path, &mut after)?;
    let mut added = Vec::new();
    for r in registrations(client) {
        let line = command(r.hook);
        added.push(format!("{}: {line}", r.event));
        let groups = hooks
            .entry(r.event)
            .or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(groups) = groups else {
            return Err(shape(path, &format!("hooks.{}", r.event)));
        };
        groups.push(json!({
            "hooks": [{"type": "command", "command": line,
                       "timeout": timeout_in_settings(client, r.timeout)}]
        }));
    }
    let changed = before.as_ref() != Some(&after);
    Ok(Plan {
        path: path.to_owned(),
        existed,
        after,
        added: if changed { added } else { Vec::new() },
        removed: if changed { removed } else { Vec::new() },
        changed,
    })
}

/// Takes memctl's hooks out of the settings at `path`.
pub fn plan_uninstall(path: &Path) -> Result<Plan, InstallError> {
    let before = read(path)?;
    let existed = before.is_some();
    let mut after = before.clone().unwrap_or_else(|| json!({}));
    let removed = remove_ours(path, &mut after)?;
    Ok(Plan {
        path: path.to_owned(),
        existed,
        changed: !removed.is_empty(),
        after,
        added: Vec::new(),
        removed,
    })
}

/// Writes a plan: the old file is copied to a backup first (its path is returned), the new
/// one written beside it and renamed over it, so the settings are never half written.
pub fn apply(plan: &Plan) -> Result<Option<PathBuf>, InstallError> {
    if !plan.changed {
        return Ok(None);
    }
    let path = &plan.path;
    let write = |source| InstallError::Write {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(write)?;
    }
    let backup = if plan.existed {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6f");
        let backup = path.with_file_name(format!(
            "{}.mnemograph-backup-{stamp}",
            path.file_name().unwrap_or_default().to_string_lossy()
        ));
        std::fs::copy(path, &backup).map_err(write)?;
        Some(backup)
    } else {
        None
    };
    let mut text = serde_json::to_string_pretty(&plan.after).expect("settings serialize");
    text.push('\n');
    let tmp = path.with_extension("mnemograph-tmp");
    std::fs::write(&tmp, text).map_err(write)?;
    std::fs::rename(&tmp, path).map_err(write)?;
    Ok(backup)
}

fn read(path: &Path) -> Result<Option<Value>, InstallError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(InstallError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    if text.trim().is_empty() {
        return Ok(Some(json!({})));
    }
    let value: Value = serde_json::from_str(&text).map_err(|e| InstallError::NotJson {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    if !value.is_object() {
        return Err(shape(path, "the file"));
    }
    Ok(Some(value))
}

fn shape(path: &Path, what: &str) -> InstallError {
    InstallError::Shape {
        path: path.to_owned(),
        what: what.to_owned(),
    }
}

/// The `hooks` object of the settings, made when missing.
fn hooks_object<'a>(
    path: &Path,
    settings: &'a mut Value,
) -> Result<&'a mut Map<String, Value>, InstallError> {
    let root = settings
        .as_object_mut()
        .ok_or_else(|| shape(path, "the file"))?;
    match root.entry("hooks").or_insert_with(|| json!({})) {
        Value::Object(hooks) => Ok(hooks),
        _ => Err(shape(path, "hooks")),
    }
}

/// Every command in an event's groups.
fn commands(groups: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for group in groups.as_array().into_iter().flatten() {
        for hook in group
            .get("hooks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(c) = hook.get("command").and_then(Value::as_str) {
                out.push(c.to_owned());
            }
        }
    }
    out
}

/// Removes memctl's entries, then the groups, events and `hooks` object they alone filled.
/// Returns `event: command` of each entry removed.
fn remove_ours(path: &Path, settings: &mut Value) -> Result<Vec<String>, InstallError> {
    let root = settings
        .as_object_mut()
        .ok_or_else(|| shape(path, "the file"))?;
    let Some(hooks) = root.get_mut("hooks") else {
        return Ok(Vec::new());
    };
    let Value::Object(events) = hooks else {
        return Err(shape(path, "hooks"));
    };
    let mut removed = Vec::new();
    for (event, groups) in events.iter_mut() {
        let Value::Array(list) = groups else { continue };
        for group in list.iter_mut() {
            let Some(Value::Array(entries)) = group.get_mut("hooks") else {
                continue;
            };
            entries.retain(|h| {
                let command = h.get("command").and_then(Value::as_str).unwrap_or("");
                let ours = is_ours(command);
                if ours {
                    removed.push(format!("{event}: {command}"));
                }
                !ours
            });
        }
        list.retain(|g| {
            g.get("hooks")
                .and_then(Value::as_array)
                .is_none_or(|h| !h.is_empty())
        });
    }
    if removed.is_empty() {
        return Ok(removed);
    }
    events.retain(|_, groups| groups.as_array().is_none_or(|g| !g.is_empty()));
    if events.is_empty() {
        root.remove("hooks");
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(h: HookEvent) -> String {
        format!("/bin/memctl hook {} --client claude-code", h.as_str())
    }

    #[test]
    fn install_keeps_other_settings_is_idempotent_and_uninstall_restores() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".claude/settings.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let original = json!({
            "model": "opus",
            "hooks": {"Stop": [{"matcher": "", "hooks": [{"type": "command", "command": "say done"}]}]}
        });
        std::fs::write(&path, original.to_string()).unwrap();
        let plan = plan_install(Client::ClaudeCode, &path, command).unwrap();
        assert_eq!(plan.added.len(), 5);
        let backup = apply(&plan)
            .unwrap()
            .expect("a backup of the existing file");
        assert_eq!(
            std::fs::read_to_string(backup).unwrap(),
            original.to_string()
        );
        let after: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(after["model"], "opus");
        assert_eq!(after["hooks"]["Stop"].as_array().unwrap().len(), 2);
        assert_eq!(installed(&path).unwrap().len(), 5);

        let again = plan_install(Client::ClaudeCode, &path, command).unwrap();
        assert!(!again.changed, "a second install changes nothing");

        let plan = plan_uninstall(&path).unwrap();
        assert_eq!(plan.removed.len(), 5);
        apply(&plan).unwrap();
        let restored: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(restored, original);
    }

    #[test]
    fn a_broken_settings_file_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(&path, "{ not json").unwrap();
        let err = plan_install(Client::Gemini, &path, command).unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
        std::fs::write(&path, r#"{"hooks": []}"#).unwrap();
        assert!(plan_install(Client::Gemini, &path, command).is_err());
        assert!(is_ours("'/a b/memctl' -n x hook prompt --client codex"));
        assert!(is_ours("'/my dir/memctl' hook capture"));
        assert!(!is_ours("memctl-other hook"));
        assert!(!is_ours("echo hook memctl"));
    }
}
