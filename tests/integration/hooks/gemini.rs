//! Gemini CLI: the hooks `memctl hooks install --client gemini` registers, fed Gemini's hook
//! JSON and its chat recordings (JSON Lines whose messages are rewritten as their tool calls
//! finish, with rewinds; and the single JSON document of earlier versions).

use serde_json::{Value, json};

use super::{PROJECT, World, of_kind, registered, stdout};

#[test]
fn a_gemini_recording_is_captured_once_its_tool_calls_finish() {
    let w = World::new();
    w.ok(&["hooks", "install", "--client", "gemini"]);
    let settings = w.home().join(".gemini/settings.json");
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(
        written["hooks"]["AfterAgent"][0]["hooks"][0]["timeout"], 30_000,
        "Gemini CLI counts milliseconds"
    );
    let recording = w.transcript("gemini_session.jsonl", "g1");
    let input = |event: &str| {
        json!({"session_id": "g1", "transcript_path": recording, "cwd": w.project(),
               "hook_event_name": event, "timestamp": "2026-11-29T10:09:00.000Z",
               "prompt": "Add date parsing", "prompt_response": "Done.",
               "stop_hook_active": false})
    };

    let out = w.run_hook(&registered(&settings, "AfterAgent"), input("AfterAgent"));
    assert_eq!(stdout(&out).trim(), "{}", "Gemini CLI reads JSON on stdout");
    let memories = w.memories();
    let errors = of_kind(&memories, "error");
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0]["title"],
        "error[E0425]: cannot find function `parse_date` in this scope"
    );
    assert_eq!(errors[0]["context"]["project"], PROJECT);
    let fixes = of_kind(&memories, "fix");
    assert_eq!(fixes.len(), 1);
    let fix = fixes[0]["content"].as_str().unwrap();
    assert!(
        fix.starts_with("The parser called parse_date before it existed")
            && fix.contains("src/lib.rs"),
        "{fix}"
    );
    let solved = w.json(&["related", fixes[0]["id"].as_str().unwrap()]);
    assert!(solved.to_string().contains("SOLVES"), "{solved}");
    let decisions = of_kind(&memories, "decision");
    let titles: Vec<&str> = decisions
        .iter()
        .map(|m| m["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["We decided to use chrono for all dates"],
        "rewound prompts and the CLI's own notices are not the user's words"
    );
    let preferences = of_kind(&memories, "preference");
    assert_eq!(preferences.len(), 1);
    assert_eq!(preferences[0]["context"]["project"], Value::Null);
    let digest = of_kind(&memories, "note");
    assert_eq!(digest.len(), 1);
    assert!(
        !digest[0]["content"]
            .as_str()
            .unwrap()
            .contains("drop the parser")
    );

    // Nothing new: a second capture stores nothing.
    let before = w.memories().len();
    let out = w.run_hook(&registered(&settings, "PreCompress"), input("PreCompress"));
    assert_eq!(stdout(&out).trim(), "{}");
    assert_eq!(w.memories().len(), before);

    // The call that waited for approval finishes (its message is written again) and fails;
    // the next capture reads it, once.
    let mut finished: Value = serde_json::from_str(
        std::fs::read_to_string(&recording)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    let call = &mut finished["toolCalls"][0];
    call["status"] = json!("success");
    call["result"] = json!([{"functionResponse": {"id": call["id"], "name": "run_shell_command",
        "response": {"output": "Output: error: this `if` has identical blocks\nExit Code: 101"}}}]);
    let mut text = std::fs::read_to_string(&recording).unwrap();
    text.push_str(&format!("{finished}\n"));
    std::fs::write(&recording, text).unwrap();
    let out = w.run_hook(&registered(&settings, "SessionEnd"), input("SessionEnd"));
    assert_eq!(stdout(&out).trim(), "{}");
    let memories = w.memories();
    assert_eq!(of_kind(&memories, "note").len(), 1, "the digest is updated");
    let digest = of_kind(&memories, "note")[0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(digest.contains("cargo clippy"), "{digest}");
}

#[test]
fn a_recording_of_an_earlier_gemini_version_is_one_json_document() {
    let w = World::new();
    let recording = w.transcript("gemini_session_legacy.json", "g2");
    let input = json!({"session_id": "g2", "transcript_path": recording, "cwd": w.project(),
                       "hook_event_name": "SessionEnd", "reason": "exit"});
    let out = w.run_hook("memctl hook capture --client gemini", &input);
    assert_eq!(stdout(&out).trim(), "{}");
    let memories = w.memories();
    let decisions = of_kind(&memories, "decision");
    assert_eq!(decisions.len(), 1);
    assert_eq!(
        decisions[0]["title"],
        "Let's use serde_json for the config files"
    );
    let digest = of_kind(&memories, "note");
    assert!(
        digest[0]["content"]
            .as_str()
            .unwrap()
            .contains("src/lib.rs"),
        "the edit is in the digest"
    );
}
