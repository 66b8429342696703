//! `memctl hooks install|uninstall|status` (settings of the coding assistants) and `memctl
//! hook <event>` (what the assistants run).
//!
//! A hook command never stands in the assistant's way: whatever fails, it prints nothing (or
//! the client's empty answer), says why on stderr, and exits 0; a capture stops at a
//! deadline shorter than the client's time limit. It opens the store without syncing and
//! without loading the embedder: a briefing reads the local file or replica as it is, prompt
//! relevance is keyword-based, and what a capture stores is embedded later by the next
//! process that runs the embedder (a server, `memctl reembed`). In replica mode a capture's
//! writes go to the primary, or wait in the outbox when it is away, as any write does.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::json;

use crate::app::App;
use crate::cli::output::{Style, table};
use crate::cli::{CliError, CliResult, Ctx};
use crate::config::{Config, ConfigArgs, ProjectMode};
use crate::hooks::input::{HookInput, MAX_INPUT_BYTES};
use crate::hooks::install::{self, Plan, Scope};
use crate::hooks::state::StateFile;
use crate::hooks::{Client, HookEvent, output, transcript};
use crate::project::Project;
use crate::store::{
    Briefing, CaptureReport, CaptureScope, MemoryStore, PROMPT_BRIEFING_TOKENS, SessionEvent,
};

#[derive(Debug, Args)]
pub struct HooksArgs {
    #[command(subcommand)]
    action: HooksAction,
}

#[derive(Debug, Subcommand)]
enum HooksAction {
    /// Add memctl's hooks to a client's settings, keeping every other setting and hook (a
    /// backup of the file is made first; installing again changes nothing).
    ///
    /// JSON: {"client", "scope", "path", "changed", "dry_run", "added", "removed", "backup",
    /// "settings"}
    Install(InstallArgs),
    /// Take memctl's hooks out of a client's settings (every client when none is named).
    ///
    /// JSON: [{"client", "scope", "path", "changed", "dry_run", "removed", "backup"}]
    Uninstall(UninstallArgs),
    /// Which clients have memctl's hooks, where, and the project of this directory.
    ///
    /// JSON: {"project", "store", "clients": [{"client", "scope", "path", "events"}]}
    Status,
}

#[derive(Debug, Args)]
struct InstallArgs {
    /// The assistant
    #[arg(long, value_enum)]
    client: Client,
    /// The user's settings (every session) or this project's
    #[arg(long, value_enum, default_value_t)]
    scope: Scope,
    /// Print the change without writing it
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
struct UninstallArgs {
    /// The assistant (default: every one)
    #[arg(long, value_enum)]
    client: Option<Client>,
    #[arg(long, value_enum, default_value_t)]
    scope: Scope,
    /// Print the change without writing it
    #[arg(long)]
    dry_run: bool,
}

/// What an assistant runs: reads the hook's JSON on stdin and answers in the client's format.
#[derive(Debug, Args)]
pub struct HookArgs {
    /// session-start (print the project's briefing), prompt (print memories relevant to the
    /// prompt) or capture (store what the transcript taught)
    #[arg(value_enum)]
    event: HookEvent,
    /// The assistant that runs the hook (its input and output formats)
    #[arg(long, value_enum, default_value = "claude-code")]
    client: Client,
}

/// Time a capture may take at the end of a session: Claude Code gives SessionEnd hooks
/// 1.5 s by default, and the process must start and exit within it.
const SESSION_END_DEADLINE: Duration = Duration::from_millis(1200);
/// Time a capture may take otherwise: well inside the registered 30 s timeout.
const CAPTURE_DEADLINE: Duration = Duration::from_secs(20);
/// Time a briefing may take; it is normally a few milliseconds.
const BRIEFING_DEADLINE: Duration = Duration::from_secs(4);

pub async fn hooks(ctx: &Ctx, args: &ConfigArgs, a: HooksArgs) -> CliResult {
    match a.action {
        HooksAction::Install(i) => install(ctx, args, i),
        HooksAction::Uninstall(u) => uninstall(ctx, u),
        HooksAction::Status => status(ctx),
    }
}

/// The directories settings are found in: the home directory and this project's root.
fn places() -> CliResult<(PathBuf, PathBuf)> {
    let home = directories::BaseDirs::new()
        .map(|d| d.home_dir().to_path_buf())
        .ok_or_else(|| CliError::Failed("no home directory to find the settings in".into()))?;
    let cwd = std::env::current_dir().map_err(CliError::io("cannot read the directory"))?;
    Ok((home, Project::detect(&cwd).root))
}

fn install(ctx: &Ctx, args: &ConfigArgs, a: InstallArgs) -> CliResult {
    let (home, root) = places()?;
    let path = install::settings_path(a.client, a.scope, &home, &root);
    let program = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(CliError::io("cannot find the memctl program"))?;
    let flags = pass_through(args);
    let plan = install::plan_install(a.client, &path, |event| {
        let mut words = vec![shell_quote(&program.to_string_lossy())];
        words.extend(flags.iter().map(|f| shell_quote(f)));
        words.extend([
            "hook".to_owned(),
            event.as_str().to_owned(),
            "--client".to_owned(),
            a.client.as_str().to_owned(),
        ]);
        words.join(" ")
    })
    .map_err(failed)?;
    let backup = if a.dry_run {
        None
    } else {
        install::apply(&plan).map_err(failed)?
    };
    let report = json!({
        "client": a.client.as_str(), "scope": scope_name(a.scope), "path": plan.path,
        "changed": plan.changed, "dry_run": a.dry_run, "added": plan.added,
        "removed": plan.removed, "backup": backup, "settings": plan.after,
    });
    ctx.out.print(&report, |out| {
        let mut text = describe(out, a.client, a.scope, &plan, a.dry_run, backup.as_deref());
        if a.dry_run && plan.changed {
            text.push_str(&format!(
                "the settings would be:\n{}\n",
                serde_json::to_string_pretty(&plan.after).unwrap_or_default()
            ));
        }
        text.push_str(client_note(a.client));
        text
    })
}

fn uninstall(ctx: &Ctx, a: UninstallArgs) -> CliResult {
    let (home, root) = places()?;
    let clients = a.client.map_or(Client::ALL.to_vec(), |c| vec![c]);
    let mut reports = Vec::new();
    let mut text = String::new();
    for client in clients {
        let path = install::settings_path(client, a.scope, &home, &root);
        let plan = install::plan_uninstall(&path).map_err(failed)?;
        let backup = if a.dry_run {
            None
        } else {
            install::apply(&plan).map_err(failed)?
        };
        text.push_str(&describe(
            &ctx.out,
            client,
            a.scope,
            &plan,
            a.dry_run,
            backup.as_deref(),
        ));
        reports.push(json!({
            "client": client.as_str(), "scope": scope_name(a.scope), "path": plan.path,
            "changed": plan.changed, "dry_run": a.dry_run, "removed": plan.removed,
            "backup": backup,
        }));
    }
    ctx.out.print(&reports, |_| text)
}

#[derive(Serialize)]
struct Installed {
    client: &'static str,
    scope: &'static str,
    path: PathBuf,
    events: Vec<String>,
}

fn status(ctx: &Ctx) -> CliResult {
    let (home, root) = places()?;
    let cwd = std::env::current_dir().map_err(CliError::io("cannot read the directory"))?;
    let project = Project::detect(&cwd);
    let mut found = Vec::new();
    for client in Client::ALL {
        for scope in [Scope::User, Scope::Project] {
            let path = install::settings_path(client, scope, &home, &root);
            let events = install::installed(&path)
                .map_err(failed)?
                .into_iter()
                .map(|(event, _)| event)
                .collect();
            found.push(Installed {
                client: client.as_str(),
                scope: scope_name(scope),
                path,
                events,
            });
        }
    }
    let store = ctx.config.db_path.value.clone();
    let report = json!({
        "project": {"name": project.name, "root": project.root, "repo": project.repo,
                    "mode": ctx.config.project_mode.value.as_str()},
        "store": store, "clients": found,
    });
    ctx.out.print(&report, |out| {
        let rows: Vec<Vec<String>> = found
            .iter()
            .map(|i| {
                let events = if i.events.is_empty() {
                    out.paint(Style::Dim, "not installed")
                } else {
                    out.paint(Style::Green, &i.events.join(", "))
                };
                vec![
                    i.client.to_owned(),
                    i.scope.to_owned(),
                    events,
                    i.path.display().to_string(),
                ]
            })
            .collect();
        format!(
            "project: {} ({} mode)\nstore: {}\n{}",
            project.name,
            ctx.config.project_mode.value.as_str(),
            store.display(),
            table(out, &["CLIENT", "SCOPE", "HOOKS", "SETTINGS"], &rows)
        )
    })
}

fn describe(
    out: &crate::cli::Output,
    client: Client,
    scope: Scope,
    plan: &Plan,
    dry_run: bool,
    backup: Option<&Path>,
) -> String {
    let mut text = format!(
        "{} ({}): {}\n",
        client.as_str(),
        scope_name(scope),
        plan.path.display()
    );
    if !plan.changed {
        text.push_str("  unchanged\n");
        return text;
    }
    for line in &plan.removed {
        text.push_str(&out.paint(Style::Red, &format!("  - {line}")));
        text.push('\n');
    }
    for line in &plan.added {
        text.push_str(&out.paint(Style::Green, &format!("  + {line}")));
        text.push('\n');
    }
    match (dry_run, backup) {
        (true, _) => text.push_str("  (dry run: nothing written)\n"),
        (false, Some(b)) => text.push_str(&format!("  backup: {}\n", b.display())),
        (false, None) => {}
    }
    text
}

/// What a person should know after installing for `client`.
fn client_note(client: Client) -> &'static str {
    match client {
        Client::ClaudeCode => "",
        Client::Codex => {
            "Codex runs hooks unless `[features] hooks = false` is set in ~/.codex/config.toml \
             (versions before hooks were on by default need `[features] codex_hooks = true`).\n"
        }
        Client::Gemini => {
            "Gemini CLI's SessionEnd hook is best effort (the CLI does not wait for it); AfterAgent \
             captures after every turn.\n"
        }
    }
}

fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::User => "user",
        Scope::Project => "project",
    }
}

fn failed(err: install::InstallError) -> CliError {
    CliError::Failed(err.to_string())
}

/// The store-choosing flags given to `hooks install`, repeated in the hook commands so the
/// hooks use the same store.
fn pass_through(args: &ConfigArgs) -> Vec<String> {
    let mut flags = Vec::new();
    let mut add = |flag: &str, value: Option<String>| {
        if let Some(value) = value {
            flags.push(format!("--{flag}={value}"));
        }
    };
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    add("config", path(&args.config));
    add("data-dir", path(&args.data_dir));
    add("db", path(&args.db));
    add("namespace", args.namespace.clone());
    flags
}

/// `word` as one shell word.
fn shell_quote(word: &str) -> String {
    let plain = word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@".contains(c));
    if plain && !word.is_empty() {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `memctl hook <event>`: answers the hook and exits 0 whatever happens.
pub async fn hook(args: &ConfigArgs, a: HookArgs) -> CliResult {
    let answer = match answer(args, &a).await {
        Ok(text) => text,
        Err(err) => {
            eprintln!("memctl hook {}: {err}", a.event.as_str());
            output::nothing(a.client)
        }
    };
    if !answer.is_empty() {
        println!("{answer}");
    }
    Ok(())
}

/// What the hook prints on stdout.
async fn answer(args: &ConfigArgs, a: &HookArgs) -> CliResult<String> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(MAX_INPUT_BYTES)
        .read_to_end(&mut bytes)
        .map_err(CliError::io("cannot read the hook input"))?;
    let input = HookInput::parse(&bytes).map_err(|e| CliError::Usage(e.to_string()))?;
    let cwd = match &input.cwd {
        Some(cwd) => cwd.clone(),
        None => std::env::current_dir().map_err(CliError::io("cannot read the directory"))?,
    };
    let project = Project::detect(&cwd);
    let stores = Stores::open(args, &project, a.event == HookEvent::Capture).await?;
    let Some(stores) = stores else {
        return Ok(output::nothing(a.client));
    };
    let within = |deadline: Duration| async move {
        tokio::time::sleep(deadline).await;
        CliError::Failed(format!(
            "gave up after {} ms so as not to hold up the assistant",
            deadline.as_millis()
        ))
    };
    match a.event {
        HookEvent::SessionStart => {
            let briefing = tokio::select! {
                b = stores.session_briefing(&project) => b?,
                err = within(BRIEFING_DEADLINE) => return Err(err),
            };
            Ok(output::context(a.client, false, &briefing))
        }
        HookEvent::Prompt => {
            let prompt = input.prompt.clone().unwrap_or_default();
            let briefing = tokio::select! {
                b = stores.prompt_briefing(&prompt, &project) => b?,
                err = within(BRIEFING_DEADLINE) => return Err(err),
            };
            Ok(output::context(a.client, true, &briefing))
        }
        HookEvent::Capture => {
            let deadline = if input.is_session_end() {
                SESSION_END_DEADLINE
            } else {
                CAPTURE_DEADLINE
            };
            let report = tokio::select! {
                r = capture(&stores, a.client, &input, &project, Instant::now() + deadline) => r?,
                err = within(deadline) => return Err(err),
            };
            if report.events > 0 {
                eprintln!(
                    "memctl hook capture: {} events, {} memories stored, {} updated, {} error \
                     fixes, {} decisions or preferences, {} already known, {} secrets redacted",
                    report.events,
                    report.created,
                    report.updated,
                    report.fixes,
                    report.statements,
                    report.known,
                    report.redacted
                );
            }
            Ok(output::nothing(a.client))
        }
    }
}

/// The stores a hook works on: the project's, and the global layer's (the same store when
/// projects are a field).
struct Stores {
    config: Config,
    project: App,
    global: Option<App>,
}

impl Stores {
    /// Opens the stores; `None` when reading and there is no store yet (nothing to brief).
    async fn open(args: &ConfigArgs, project: &Project, write: bool) -> CliResult<Option<Stores>> {
        let config = Config::load(args)?;
        let separate = config.project_mode.value == ProjectMode::Namespace && args.db.is_none();
        let project_config = if separate {
            let mut own = args.clone();
            own.namespace = Some(project.namespace());
            Config::load(&own)?
        } else {
            config.clone()
        };
        let something_to_read = App::exists(&project_config) || separate && App::exists(&config);
        if !write && !something_to_read {
            return Ok(None);
        }
        let project_app = App::open(&project_config).await?;
        let global = if separate && (write || App::exists(&config)) {
            Some(App::open(&config).await?)
        } else {
            None
        };
        Ok(Some(Stores {
            config,
            project: project_app,
            global,
        }))
    }

    fn global(&self) -> &MemoryStore {
        self.global.as_ref().unwrap_or(&self.project).store()
    }

    async fn session_briefing(&self, project: &Project) -> CliResult<String> {
        let tokens = self.config.briefing_tokens.value;
        let Some(global) = &self.global else {
            let b = self
                .project
                .store()
                .session_briefing(Some(&project.name), tokens)
                .await?;
            return Ok(b.text);
        };
        // Three quarters for the project, the rest for the global layer.
        let own = self
            .project
            .store()
            .session_briefing(Some(&project.name), tokens * 3 / 4)
            .await?;
        let everywhere = global.store().session_briefing(None, tokens / 4).await?;
        Ok(joined(own, everywhere))
    }

    async fn prompt_briefing(&self, prompt: &str, project: &Project) -> CliResult<String> {
        let tokens = PROMPT_BRIEFING_TOKENS;
        let own = self
            .project
            .store()
            .prompt_briefing(prompt, Some(&project.name), tokens)
            .await?;
        let Some(global) = &self.global else {
            return Ok(own.text);
        };
        let everywhere = global
            .store()
            .prompt_briefing(prompt, None, tokens / 2)
            .await?;
        Ok(joined(own, everywhere))
    }
}

fn joined(a: Briefing, b: Briefing) -> String {
    [a.text, b.text]
        .into_iter()
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads the transcript from where the session's last capture stopped and stores what it
/// taught; the new position is saved only once the store has everything.
async fn capture(
    stores: &Stores,
    client: Client,
    input: &HookInput,
    project: &Project,
    deadline: Instant,
) -> CliResult<CaptureReport> {
    let (Some(session_id), Some(transcript_path)) = (&input.session_id, &input.transcript_path)
    else {
        return Err(CliError::Usage(
            "the hook input names no session_id or transcript_path; nothing to capture".into(),
        ));
    };
    let dir = stores
        .config
        .data_dir
        .value
        .join("hooks")
        .join(&stores.config.namespace.value);
    let mut file = StateFile::open(&dir, client, session_id, deadline)?;
    let state = &mut file.state;
    if state.transcript.as_ref() != Some(transcript_path) {
        state.offset = 0;
        state.transcript = Some(transcript_path.clone());
    }
    let chunk = transcript::read(client, transcript_path, state.offset).map_err(CliError::io(
        format!("cannot read the transcript {}", transcript_path.display()),
    ))?;
    if chunk.events.is_empty() && chunk.offset == state.offset {
        return Ok(CaptureReport::default());
    }
    let events: Vec<SessionEvent> = chunk
        .events
        .into_iter()
        .map(|e| relative_to(e, &project.root))
        .collect();
    let scope = CaptureScope {
        session_id: session_id.clone(),
        project: Some(project.name.clone()),
        repo: project.repo.clone(),
    };
    let mut next = state.capture.clone();
    let report = stores
        .project
        .store()
        .capture(stores.global(), &scope, &events, &mut next)
        .await?;
    state.capture = next;
    state.offset = chunk.offset;
    file.save()?;
    Ok(report)
}

/// A file path inside the project, relative to its root: shorter, and the same on every
/// machine.
fn relative_to(event: SessionEvent, root: &Path) -> SessionEvent {
    match event {
        SessionEvent::Edit { path } => {
            let path = Path::new(&path)
                .strip_prefix(root)
                .map_or(path.clone(), |p| p.display().to_string());
            SessionEvent::Edit { path }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_a_shell_would_split_them() {
        assert_eq!(shell_quote("/usr/bin/memctl"), "/usr/bin/memctl");
        assert_eq!(shell_quote("/my dir/it's"), r"'/my dir/it'\''s'");
        assert_eq!(shell_quote("--namespace=work"), "--namespace=work");
    }
}
