//! The text form of a memory that `add` and `edit` open in `$VISUAL`/`$EDITOR`: a few
//! `key: value` header lines, a `---` line, then the content verbatim.
//!
//! ```text
//! kind: fix
//! title: Retry SQLITE_BUSY with a busy timeout
//! tags: sqlite, concurrency
//! importance: 0.7
//! confidence: 1
//! project: mnemograph
//! ---
//! Use BEGIN IMMEDIATE so writers queue instead of failing.
//! ```

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::Command;

use super::{CliError, CliResult};

/// The fields a person edits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Draft {
    pub kind: String,
    pub title: String,
    pub tags: Vec<String>,
    pub importance: f32,
    pub confidence: f32,
    pub project: Option<String>,
    pub content: String,
}

const SEPARATOR: &str = "---";

impl Draft {
    pub fn render(&self) -> String {
        format!(
            "# Edit the fields and the content below the --- line, save and quit.\n\
             # Lines starting with # above the --- are ignored; an empty title or content aborts.\n\
             kind: {}\ntitle: {}\ntags: {}\nimportance: {}\nconfidence: {}\nproject: {}\n{SEPARATOR}\n{}",
            self.kind,
            self.title,
            self.tags.join(", "),
            self.importance,
            self.confidence,
            self.project.as_deref().unwrap_or(""),
            self.content
        )
    }

    pub fn parse(text: &str) -> CliResult<Draft> {
        let invalid =
            |why: String| CliError::Usage(format!("the edited memory is not valid: {why}"));
        let (head, content) = text
            .split_once(&format!("\n{SEPARATOR}\n"))
            .or_else(|| {
                text.strip_suffix(&format!("\n{SEPARATOR}"))
                    .map(|h| (h, ""))
            })
            .ok_or_else(|| invalid(format!("no line {SEPARATOR:?} before the content")))?;
        let mut draft = Draft {
            content: content.trim_end_matches('\n').to_owned(),
            ..Draft::default()
        };
        for line in head.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line
                .split_once(':')
                .ok_or_else(|| invalid(format!("{line:?} is not `key: value`")))?;
            let value = value.trim();
            let number = |v: &str| {
                v.parse::<f32>()
                    .map_err(|_| invalid(format!("{key} {v:?} is not a number")))
            };
            match key.trim() {
                "kind" => draft.kind = value.to_owned(),
                "title" => draft.title = value.to_owned(),
                "tags" => {
                    draft.tags = value
                        .split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect()
                }
                "importance" => draft.importance = number(value)?,
                "confidence" => draft.confidence = number(value)?,
                "project" => draft.project = Some(value.to_owned()).filter(|p| !p.is_empty()),
                other => return Err(invalid(format!("unknown field {other:?}"))),
            }
        }
        if draft.title.trim().is_empty() || draft.content.trim().is_empty() {
            return Err(CliError::Failed(
                "empty title or content; nothing was changed".into(),
            ));
        }
        Ok(draft)
    }

    /// Opens the draft in the user's editor and returns what was saved. Without a terminal
    /// (a script, a pipe, an assistant's shell) no editor is started: an editor there would
    /// hang or print escape codes into the output, so the error says which flags to pass
    /// (`instead`).
    pub fn edit(&self, instead: &str) -> CliResult<Draft> {
        if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
            return Err(CliError::Usage(format!(
                "no terminal to open an editor in; {instead}"
            )));
        }
        let path = temp_path();
        std::fs::write(&path, self.render())
            .map_err(CliError::io(format!("cannot write {}", path.display())))?;
        let result = run_editor(&path).and_then(|()| {
            std::fs::read_to_string(&path)
                .map_err(CliError::io(format!("cannot read {}", path.display())))
        });
        let _ = std::fs::remove_file(&path);
        Draft::parse(&result?)
    }
}

fn temp_path() -> PathBuf {
    std::env::temp_dir().join(format!(
        "memctl-{}-{}.md",
        std::process::id(),
        uuid::Uuid::now_v7().simple()
    ))
}

/// Runs `$VISUAL`, `$EDITOR` or `vi` on `path` through the shell, so an editor given with
/// arguments (`code --wait`) works.
fn run_editor(path: &std::path::Path) -> CliResult {
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_owned());
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("memctl-editor")
        .arg(path)
        .status()
        .map_err(CliError::io(format!("cannot start the editor {editor:?}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "the editor {editor:?} exited with {status}; nothing was changed"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_round_trip_through_text() {
        let draft = Draft {
            kind: "fix".into(),
            title: "Retry busy".into(),
            tags: vec!["sqlite".into(), "db".into()],
            importance: 0.7,
            confidence: 1.0,
            project: Some("mnemograph".into()),
            content: "line one\n\nline --- three".into(),
        };
        assert_eq!(Draft::parse(&draft.render()).unwrap(), draft);
    }

    #[test]
    fn bad_drafts_are_rejected() {
        assert!(Draft::parse("title: x\ncontent").is_err());
        assert!(Draft::parse("colour: red\n---\nbody").is_err());
        assert!(Draft::parse("kind: note\ntitle: \n---\nbody").is_err());
    }
}
