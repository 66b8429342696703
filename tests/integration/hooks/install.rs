//! `memctl hooks install|uninstall|status` on the clients' settings files.

use serde_json::Value;

use super::World;
use crate::support;

fn read(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn claude_code_settings_are_kept_the_install_is_idempotent_and_uninstall_restores() {
    let w = World::new();
    let settings = w.home().join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::copy(support::fixture("hooks/claude_settings.json"), &settings).unwrap();
    let original = read(&settings);

    let dry = w.json(&["hooks", "install", "--client", "claude-code", "--dry-run"]);
    assert_eq!(dry["changed"], true);
    assert_eq!(read(&settings), original, "a dry run writes nothing");

    let report = w.json(&["hooks", "install", "--client", "claude-code"]);
    assert_eq!(report["added"].as_array().unwrap().len(), 5);
    let backup = report["backup"].as_str().expect("a backup was made");
    assert_eq!(read(std::path::Path::new(backup)), original);
    let installed = read(&settings);
    assert_eq!(installed["model"], original["model"]);
    assert_eq!(installed["permissions"], original["permissions"]);
    assert_eq!(
        installed["hooks"]["PreToolUse"],
        original["hooks"]["PreToolUse"]
    );
    let stop = installed["hooks"]["Stop"].as_array().unwrap();
    assert_eq!(stop.len(), 2, "the user's own Stop hook stays beside ours");
    assert_eq!(stop[0], original["hooks"]["Stop"][0]);
    for event in [
        "SessionStart",
        "UserPromptSubmit",
        "PreCompact",
        "Stop",
        "SessionEnd",
    ] {
        assert!(super::registered(&settings, event).contains("--client claude-code"));
    }

    let again = w.json(&["hooks", "install", "--client", "claude-code"]);
    assert_eq!(again["changed"], false);
    assert!(again["backup"].is_null());
    assert_eq!(
        read(&settings),
        installed,
        "installing twice changes nothing"
    );

    let status = w.json(&["hooks", "status"]);
    assert_eq!(status["project"]["name"], super::PROJECT);
    let claude_user = status["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client"] == "claude-code" && c["scope"] == "user")
        .unwrap();
    assert_eq!(claude_user["events"].as_array().unwrap().len(), 5);

    let removed = w.json(&["hooks", "uninstall", "--client", "claude-code"]);
    assert_eq!(removed[0]["removed"].as_array().unwrap().len(), 5);
    assert_eq!(
        read(&settings),
        original,
        "uninstall leaves the settings as they were"
    );
}

#[test]
fn codex_and_gemini_get_their_own_files_and_a_project_scope_stays_in_the_project() {
    let w = World::new();
    w.ok(&["hooks", "install", "--client", "codex"]);
    let codex = read(&w.home().join(".codex/hooks.json"));
    let events: Vec<&String> = codex["hooks"].as_object().unwrap().keys().collect();
    assert_eq!(
        events,
        ["PreCompact", "SessionStart", "Stop", "UserPromptSubmit"]
    );

    w.ok(&[
        "hooks", "install", "--client", "gemini", "--scope", "project",
    ]);
    let gemini = read(&w.project().join(".gemini/settings.json"));
    assert!(
        gemini["hooks"]["BeforeAgent"][0]["hooks"][0]["command"]
            .as_str()
            .unwrap()
            .ends_with("hook prompt --client gemini")
    );
    assert!(!w.home().join(".gemini").exists());

    // Uninstalling every client removes what was made, file contents and all.
    w.ok(&["hooks", "uninstall"]);
    assert_eq!(
        read(&w.home().join(".codex/hooks.json")),
        serde_json::json!({})
    );
    w.ok(&["hooks", "uninstall", "--scope", "project"]);
    assert_eq!(
        read(&w.project().join(".gemini/settings.json")),
        serde_json::json!({})
    );
}

#[test]
fn a_settings_file_that_is_not_json_is_refused_and_left_alone() {
    let w = World::new();
    let settings = w.home().join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(&settings, "{\"model\": \"opus\",,}").unwrap();
    let o = w
        .memctl()
        .args(["hooks", "install", "--client", "claude-code"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(support::memctl::stderr(&o).contains("not valid JSON"));
    assert_eq!(
        std::fs::read_to_string(&settings).unwrap(),
        "{\"model\": \"opus\",,}"
    );
}
