//! The hook commands a client runs, fed real hook JSON and fixture transcripts: briefings at
//! session start and on prompts, and captures that store error → fix pairs, decisions,
//! preferences and a digest, once.

use serde_json::{Value, json};

use super::{PROJECT, World, of_kind, registered, stdout};

/// The context a session-start or prompt hook added, or `None` when it printed nothing.
fn context(out: &str) -> Option<String> {
    if out.trim().is_empty() {
        return None;
    }
    let v: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
    Some(
        v["hookSpecificOutput"]["additionalContext"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

#[test]
fn installed_hooks_capture_a_session_once_and_brief_the_next_one() {
    let w = World::new();
    w.ok(&["hooks", "install", "--client", "claude-code"]);
    let settings = w.home().join(".claude/settings.json");
    let cwd = w.project().display().to_string();
    let transcript = w.transcript("claude_session.jsonl", "s1");
    let input = |event: &str| {
        json!({"session_id": "s1", "transcript_path": transcript, "cwd": cwd,
               "hook_event_name": event, "permission_mode": "default"})
    };

    // A first session on an empty store: nothing to say, and nothing fails.
    let mut start = input("SessionStart");
    start["source"] = json!("startup");
    let out = w.run_hook(&registered(&settings, "SessionStart"), &start);
    assert_eq!(context(&stdout(&out)), None);

    // The turn ends before the transcript holds its last message (a half-written line).
    let mut stop = input("Stop");
    stop["stop_hook_active"] = json!(false);
    let out = w.run_hook(&registered(&settings, "Stop"), &stop);
    assert_eq!(stdout(&out), "");
    let memories = w.memories();

    let errors = of_kind(&memories, "error");
    let titles: Vec<&str> = errors
        .iter()
        .map(|m| m["title"].as_str().unwrap())
        .collect();
    assert_eq!(errors.len(), 2, "{titles:?}");
    assert!(
        titles.contains(&"error[E0308]: mismatched types"),
        "{titles:?}"
    );
    assert!(
        titles.iter().any(|t| t.contains("test_expired_token")),
        "{titles:?}"
    );
    // The clippy run failed and was never fixed: an error met, not a pair to keep.
    assert!(!titles.iter().any(|t| t.contains("unused")));
    for error in &errors {
        let id = error["id"].as_str().unwrap();
        assert_eq!(error["context"]["project"], PROJECT);
        let related = w.json(&["related", id]);
        let fixes: Vec<&Value> = related["neighbours"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["via"]["rel_type"] == "SOLVES" && n["via"]["target_id"] == id)
            .collect();
        assert_eq!(fixes.len(), 1, "one fix SOLVES {id}");
        assert_eq!(fixes[0]["memory"]["kind"], "fix");
    }
    let fix = of_kind(&memories, "fix")
        .into_iter()
        .find(|m| m["title"].as_str().unwrap().contains("E0308"))
        .unwrap();
    let content = fix["content"].as_str().unwrap();
    assert!(content.contains("NaiveDate::parse_from_str"), "{content}");
    assert!(
        content.contains("src/dates.rs") && !content.contains(&cwd),
        "{content}"
    );

    let decisions = of_kind(&memories, "decision");
    assert_eq!(
        decisions.len(),
        1,
        "the subagent's sidechain line is not the user's"
    );
    assert!(
        decisions[0]["title"]
            .as_str()
            .unwrap()
            .starts_with("Let's use chrono")
    );
    let preferences = of_kind(&memories, "preference");
    assert_eq!(preferences.len(), 2);
    assert!(
        preferences
            .iter()
            .all(|p| p["context"]["project"].is_null()),
        "global layer"
    );
    let digests: Vec<&Value> = memories
        .iter()
        .filter(|m| {
            m["tags"]
                .as_array()
                .unwrap()
                .contains(&json!("session-digest"))
        })
        .collect();
    assert_eq!(digests.len(), 1);
    let digest = digests[0]["content"].as_str().unwrap();
    assert!(
        digest.contains("src/dates.rs") && digest.contains("app/api.py"),
        "{digest}"
    );
    assert!(digest.contains("cargo test"), "{digest}");
    assert!(
        !memories
            .iter()
            .any(|m| m.to_string().contains("rewrite the whole service"))
    );

    // Stop again, then the end of the session: nothing new is stored.
    let before = w.memories().len();
    let out = w.run_hook(&registered(&settings, "Stop"), &stop);
    assert_eq!(stdout(&out), "");
    let out = w.run_hook(&registered(&settings, "SessionEnd"), input("SessionEnd"));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        w.memories().len(),
        before,
        "a second capture stores nothing new"
    );

    // The last message arrives, with a fix for the clippy warning: the open failure from
    // the first capture pairs with it, and the digest is updated, not duplicated.
    let rest = [
        json!({"type": "assistant", "message": {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_9", "name": "Edit",
             "input": {"file_path": format!("{cwd}/src/lib.rs")}},
            {"type": "tool_use", "id": "toolu_10", "name": "Bash",
             "input": {"command": "cargo clippy"}}]}}),
        json!({"type": "user", "message": {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_10", "content": "", "is_error": false}]}}),
    ];
    let mut text = std::fs::read_to_string(&transcript).unwrap();
    text.push_str(" fixed.\"}]}}\n");
    for line in rest {
        text.push_str(&format!("{line}\n"));
    }
    std::fs::write(&transcript, text).unwrap();
    let out = w.run_hook(&registered(&settings, "SessionEnd"), input("SessionEnd"));
    assert_eq!(stdout(&out), "");
    let after = w.memories();
    assert_eq!(after.len(), before + 2, "the clippy error and its fix");
    let digest = after
        .iter()
        .find(|m| {
            m["tags"]
                .as_array()
                .unwrap()
                .contains(&json!("session-digest"))
        })
        .unwrap();
    assert!(digest["content"].as_str().unwrap().contains("src/lib.rs"));
    assert!(digest["version"].as_i64().unwrap() > 1);

    // Another project's memory, to be left out of this project's briefing.
    w.ok(&[
        "add",
        "-k",
        "decision",
        "-t",
        "Use Postgres for billing",
        "-c",
        "x",
        "--project",
        "github.com/acme/billing",
    ]);

    // The next session, started in a subdirectory: a briefing about this project, in budget.
    let mut next = json!({"session_id": "s2", "transcript_path": w.path().join("s2.jsonl"),
                          "cwd": w.project().join("src"), "hook_event_name": "SessionStart",
                          "source": "startup"});
    let out = w.run_hook(&registered(&settings, "SessionStart"), &next);
    let briefing = context(&stdout(&out)).expect("a briefing");
    assert!(briefing.contains(PROJECT), "{briefing}");
    assert!(briefing.len() <= 1500 * 4, "{} chars", briefing.len());
    assert!(
        briefing.contains(decisions[0]["id"].as_str().unwrap()),
        "{briefing}"
    );
    assert!(briefing.contains(fix["id"].as_str().unwrap()), "{briefing}");
    assert!(
        briefing.contains("I prefer small focused commits"),
        "{briefing}"
    );
    assert!(!briefing.contains("Postgres"), "{briefing}");

    // A prompt about a stored error brings its fix; small talk brings nothing.
    next["hook_event_name"] = json!("UserPromptSubmit");
    next["prompt"] = json!("the parser fails again with mismatched types in dates.rs");
    let out = w.run_hook(&registered(&settings, "UserPromptSubmit"), &next);
    let relevant = context(&stdout(&out)).expect("relevant memories");
    assert!(relevant.contains("mismatched types"), "{relevant}");
    assert!(relevant.len() <= 500 * 4);
    next["prompt"] = json!("thanks, looks good to me");
    let out = w.run_hook(&registered(&settings, "UserPromptSubmit"), &next);
    assert_eq!(context(&stdout(&out)), None);
}

#[test]
fn secrets_in_a_transcript_reach_neither_the_store_nor_an_export() {
    let w = World::new();
    let transcript = w.transcript("claude_session.jsonl", "s1");
    let input = json!({"session_id": "s1", "transcript_path": transcript,
                       "cwd": w.project(), "hook_event_name": "SessionEnd"});
    let out = w.run_hook("memctl hook capture", &input);
    stdout(&out);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("secrets redacted") && !said.contains(" 0 secrets"),
        "{said}"
    );
    assert!(!w.memories().is_empty());
    let secret = "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
    let listed = w.ok(&["list", "--json", "--limit", "500"]);
    assert!(!listed.contains(secret));
    let export = w.ok(&["export", "-"]);
    assert!(
        export.contains("session-digest") && !export.contains(secret),
        "{export}"
    );
}

#[test]
fn a_codex_rollout_is_captured_with_its_shell_calls_and_patches() {
    let w = World::new();
    let rollout = w.transcript("codex_rollout.jsonl", "c1");
    let input = json!({"session_id": "c1", "transcript_path": rollout, "cwd": w.project(),
                       "hook_event_name": "Stop", "model": "gpt-5-codex", "turn_id": "t1"});
    let out = w.run_hook("memctl hook capture --client codex", &input);
    assert_eq!(stdout(&out), "");
    let memories = w.memories();
    let errors = of_kind(&memories, "error");
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0]["title"],
        "error[E0432]: unresolved import `rayon`"
    );
    let fixes = of_kind(&memories, "fix");
    assert_eq!(fixes.len(), 1);
    assert!(fixes[0]["content"].as_str().unwrap().contains("Cargo.toml"));
    let decisions = of_kind(&memories, "decision");
    assert_eq!(
        decisions.len(),
        1,
        "the injected environment context is not a prompt"
    );
    assert_eq!(
        decisions[0]["title"],
        "We will use rayon for the parallel parts"
    );

    // Codex's answer to a session start is its JSON too.
    let start = json!({"session_id": "c2", "cwd": w.project(), "hook_event_name": "SessionStart",
                       "source": "startup"});
    let out = w.run_hook("memctl hook session-start --client codex", &start);
    assert!(context(&stdout(&out)).unwrap().contains("rayon"));
}

#[test]
fn a_hook_that_cannot_do_its_work_says_why_and_exits_zero() {
    let w = World::new();
    let cases: [(&str, &str); 4] = [
        ("memctl hook capture", "not json"),
        (
            "memctl hook capture",
            r#"{"session_id": "x", "transcript_path": "/nonexistent"}"#,
        ),
        ("memctl hook capture", r#"{"hook_event_name": "Stop"}"#),
        (
            "MNEMOGRAPH_BRIEFING_TOKENS=7 memctl hook session-start",
            r#"{"session_id": "x"}"#,
        ),
    ];
    for (command, input) in cases {
        let out = w.run_hook(command, input);
        assert!(out.status.success(), "{command} with {input}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "",
            "{command} with {input}"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("memctl hook "),
            "{command} with {input}: {err}"
        );
    }
    // Gemini CLI reads stdout as JSON on every event: nothing to say is `{}`.
    let out = w.run_hook(
        "memctl hook session-start --client gemini",
        json!({"cwd": w.project()}),
    );
    assert_eq!(stdout(&out).trim(), "{}");
}

#[test]
fn with_a_namespace_per_project_preferences_stay_global() {
    let w = World::new();
    let transcript = w.transcript("claude_session.jsonl", "n1");
    let input = json!({"session_id": "n1", "transcript_path": transcript,
                       "cwd": w.project(), "hook_event_name": "PreCompact", "trigger": "auto"});
    let out = w.run_hook(
        "MNEMOGRAPH_PROJECT_MODE=namespace memctl hook capture",
        &input,
    );
    stdout(&out);
    let project_ns = w.json(&["-n", "github-com-acme-parser", "list"]);
    let kinds: Vec<&str> = project_ns["memories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"fix") && kinds.contains(&"decision"),
        "{kinds:?}"
    );
    assert!(!kinds.contains(&"preference"), "{kinds:?}");
    let global = w.memories();
    assert_eq!(of_kind(&global, "preference").len(), 2);

    let start = json!({"session_id": "n2", "cwd": w.project(), "hook_event_name": "SessionStart"});
    let out = w.run_hook(
        "MNEMOGRAPH_PROJECT_MODE=namespace memctl hook session-start",
        &start,
    );
    let briefing = context(&stdout(&out)).unwrap();
    assert!(briefing.contains("Let's use chrono") && briefing.contains("I prefer small"));
}
