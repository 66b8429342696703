//! A person's session in the viewer, in headless Chromium, from search to a version conflict,
//! with `memctl` writing to the same store from another process meanwhile. Screenshots of each
//! step go to a temporary directory the test names on its output.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mnemograph::Error;
use mnemograph::store::NewMemory;

use super::cdp::{Browser, chromium};
use super::{Served, seed};
use crate::support::{memctl, skip};

/// `document.querySelector(selector).textContent`, as JavaScript.
fn text_of(selector: &str) -> String {
    format!(
        "(document.querySelector({})?.textContent ?? '')",
        serde_json::to_string(selector).unwrap()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_searches_reads_edits_and_sees_other_writers_live() {
    let Some(chromium) = chromium() else {
        skip("needs Chromium (Debian package `chromium`)");
        return;
    };
    let served = Served::start().await;
    let ids = seed(&served.app).await;
    let store = served.app.store();
    let shots: PathBuf = tempfile::Builder::new()
        .prefix("mnemograph-viewer-")
        .tempdir()
        .unwrap()
        .keep();
    println!("screenshots in {}", shots.display());
    let b = Browser::start(&chromium, 1280, 900).await;
    let base = served.base.clone();

    // The first page lists the newest memories.
    b.goto(&base).await;
    b.wait_for(
        &format!("{}.includes('8 most recent')", text_of("#search-summary")),
        "the recent memories",
    )
    .await;

    // Search: hits with their snippets' matched terms marked, and a filter by kind.
    b.fill("#search-form input[name=q]", "unresolved import")
        .await;
    b.eval("document.querySelector('#search-form').requestSubmit()")
        .await;
    b.wait_for(
        &format!(
            "document.querySelector('#results .hit[data-id=\"{}\"]') !== null",
            ids.error
        ),
        "the error among the hits",
    )
    .await;
    let marked = b
        .eval(
            "[...document.querySelectorAll('#results mark')].map(m => m.textContent.toLowerCase())",
        )
        .await;
    assert!(
        marked.to_string().contains("unresolved"),
        "matched terms are marked: {marked}"
    );
    b.screenshot(&shots.join("1-search.png")).await;
    b.goto(&format!("{base}#/?q=store&kind=fix")).await;
    b.wait_for(
        &format!("{}.includes('found')", text_of("#search-summary")),
        "a filtered search",
    )
    .await;
    let kinds = b
        .eval("[...document.querySelectorAll('#results .hit .kind')].map(k => k.textContent)")
        .await;
    assert_eq!(kinds, serde_json::json!(["fix"]), "only fixes: {kinds}");

    // A memory: content, context and relationships both ways with their titles.
    b.goto(&format!("{base}#/?q=unresolved")).await;
    b.click(&format!("#results .hit[data-id=\"{}\"] h3 a", ids.error))
        .await;
    b.wait_for(
        &format!("{}.includes('unresolved import')", text_of("#memory-title")),
        "the memory page",
    )
    .await;
    let content = b.eval(&text_of("#memory-content")).await;
    assert!(content.as_str().unwrap().contains("E0432"), "{content}");
    let incoming = b.eval(&text_of("#links-in")).await;
    assert!(
        incoming.as_str().unwrap().contains("SOLVES")
            && incoming
                .as_str()
                .unwrap()
                .contains("Declare the moved module in lib.rs"),
        "the fix that solves it, by title: {incoming}"
    );
    let outgoing = b.eval(&text_of("#links-out")).await;
    assert!(outgoing.as_str().unwrap().contains("libSQL"), "{outgoing}");
    assert!(
        b.eval(&text_of(".context"))
            .await
            .as_str()
            .unwrap()
            .contains("mnemograph")
    );
    b.screenshot(&shots.join("2-memory.png")).await;

    // Edit it, and see it changed on the page and in the store.
    b.click("#edit").await;
    b.fill(
        "#editor [name=title]",
        "Build fails: E0432 after moving the store module",
    )
    .await;
    b.fill("#editor [name=tags]", "rust, build, modules").await;
    b.click("#save").await;
    b.wait_for(
        &format!(
            "{}.includes('E0432 after moving')",
            text_of("#memory-title")
        ),
        "the edited title",
    )
    .await;
    assert!(
        b.eval(&text_of("#message"))
            .await
            .as_str()
            .unwrap()
            .contains("version 2")
    );
    let edited = store.get(&ids.error).await.unwrap();
    assert_eq!(
        edited.title,
        "Build fails: E0432 after moving the store module"
    );
    assert_eq!(edited.tags, ["rust", "build", "modules"]);
    assert_eq!(edited.version, 2);
    b.screenshot(&shots.join("3-edited.png")).await;

    // The graph around it: nodes coloured by kind, edges labelled, a click opens a memory.
    b.click("a[href^='#/graph?id='] button").await;
    b.wait_for(
        "document.querySelector('#graph')?.dataset.settled === 'true'",
        "the layout",
    )
    .await;
    let drawn = |nodes: usize| {
        format!(
            "document.querySelector('#graph')?.dataset.settled === 'true' && \
             document.querySelectorAll('#graph .node').length === {nodes} && \
             [...document.querySelectorAll('#graph .edge-label')].map(l => l.textContent).sort()"
        )
    };
    // Two hops from the error: the fix that solves it and libSQL, then the pattern (through
    // the fix) and the locking problem (through libSQL).
    let labels = b.wait_for(&drawn(5), "five memories drawn").await;
    assert_eq!(
        labels,
        serde_json::json!(["DEPENDS_ON", "RELATED_TO", "RELATED_TO", "SOLVES"])
    );
    let fills = b
        .eval("new Set([...document.querySelectorAll('#graph .node circle')].map(c => c.getAttribute('fill'))).size")
        .await;
    assert_eq!(fills, 5, "five kinds, five colours");
    assert!(
        b.eval(&text_of("#graph-summary"))
            .await
            .as_str()
            .unwrap()
            .starts_with("5 memories, 4 relationships")
    );
    // A third hop reaches everything.
    b.eval("const d = document.querySelector('#graph-form [name=depth]'); d.value = '3'; d.dispatchEvent(new Event('change'))")
        .await;
    b.wait_for(&drawn(8), "eight memories drawn").await;
    b.screenshot(&shots.join("4-graph.png")).await;
    b.wait_for(
        "document.querySelector('#graph').dataset.settled === 'true'",
        "the layout",
    )
    .await;
    b.click(&format!(
        "#graph .node[data-id=\"{}\"] circle",
        ids.decision
    ))
    .await;
    b.wait_for(
        &format!(
            "{}.includes('One integration test binary')",
            text_of("#memory-title")
        ),
        "the clicked memory",
    )
    .await;

    // Delete a relationship (it asks for a second click first).
    b.goto(&format!("{base}#/memory/{}", ids.fix)).await;
    let delete = format!("tr[data-rel=\"{}\"] .delete-link", ids.solves);
    b.click(&delete).await;
    // The second click must land on the armed button, not on one the page drew afresh.
    b.wait_for(
        &format!(
            "document.querySelector({})?.textContent === 'Click again to confirm'",
            serde_json::to_string(&delete).unwrap()
        ),
        "the delete to ask for confirmation",
    )
    .await;
    // A write elsewhere that changes nothing on this page leaves the armed button armed (the
    // page polls for changes every second; before, each change drew the page afresh).
    store
        .create(NewMemory {
            kind: "note".into(),
            title: "Unrelated".into(),
            content: "written while the delete waits for its second click".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let armed = b
        .eval(&format!(
            "document.querySelector({})?.textContent",
            serde_json::to_string(&delete).unwrap()
        ))
        .await;
    assert_eq!(armed, "Click again to confirm");
    b.click(&delete).await;
    b.wait_for(
        &format!(
            "document.querySelector('tr[data-rel=\"{}\"]') === null",
            ids.solves
        ),
        "the relationship to go",
    )
    .await;
    assert!(matches!(
        store.get_relationship(&ids.solves).await,
        Err(Error::RelationshipNotFound { .. })
    ));

    // A version conflict: memctl edits the memory while the page has it open for editing.
    b.goto(&format!("{base}#/memory/{}", ids.error)).await;
    b.click("#edit").await;
    b.fill("#editor [name=content]", "my edit").await;
    memctl::ok(
        served.dir.path(),
        &["edit", &ids.error, "--title", "Renamed by memctl"],
    );
    // The page says so as the change arrives, and the notice moves the form down: the click
    // waits for it, as a person's eye would (a click aimed just before it moved missed Save).
    b.wait_for(
        "document.querySelector('#message.info')?.textContent",
        "the notice of the change elsewhere",
    )
    .await;
    b.click("#save").await;
    let conflict = b
        .wait_for(
            "document.querySelector('#message.conflict')?.textContent",
            "the conflict message",
        )
        .await;
    assert!(
        conflict.as_str().unwrap().contains("changed elsewhere")
            && conflict
                .as_str()
                .unwrap()
                .contains("you edited version 2; it is now version 3"),
        "{conflict}"
    );
    let kept = store.get(&ids.error).await.unwrap();
    assert_eq!(
        (kept.title.as_str(), kept.version),
        ("Renamed by memctl", 3)
    );
    assert!(
        kept.content.contains("E0432"),
        "the stale edit was not applied"
    );
    b.screenshot(&shots.join("5-conflict.png")).await;
    b.click("#reload-current").await;
    b.wait_for(
        &format!("{}.includes('Renamed by memctl')", text_of("#memory-title")),
        "the current version",
    )
    .await;

    // Live: another process's writes appear without a reload, on a memory and in a list.
    b.eval("window.stillTheSamePage = true").await;
    let started = Instant::now();
    memctl::ok(
        served.dir.path(),
        &[
            "edit",
            &ids.error,
            "--content",
            "Rewritten by memctl in another process",
        ],
    );
    b.wait_for(
        &format!(
            "{}.includes('Rewritten by memctl')",
            text_of("#memory-content")
        ),
        "another process's edit",
    )
    .await;
    println!(
        "an edit by memctl (run from its start) showed after {:?}",
        started.elapsed()
    );
    b.goto(&base).await;
    b.eval("window.stillTheSamePage = true").await;
    let started = Instant::now();
    memctl::ok(
        served.dir.path(),
        &[
            "add",
            "-k",
            "note",
            "-t",
            "Added by memctl while the page was open",
            "-c",
            "hello",
        ],
    );
    b.wait_for(
        &format!("{}.includes('Added by memctl')", text_of("#results")),
        "another process's new memory",
    )
    .await;
    println!(
        "a memory added by memctl (run from its start) showed after {:?}",
        started.elapsed()
    );
    assert_eq!(b.eval("window.stillTheSamePage").await, true, "no reload");
    b.screenshot(&shots.join("6-live.png")).await;

    // The status page: counts by kind and type, embedder, location, sync.
    b.goto(&format!("{base}#/status")).await;
    b.wait_for(&text_of("#status-sync"), "the status").await;
    let status = b.eval(&text_of("#status")).await;
    let status = status.as_str().unwrap();
    for expected in [
        "Memories by kind",
        "DEPENDS_ON",
        "technology",
        "queued writes",
        "refused writes",
        served.dir.path().join("data/default.db").to_str().unwrap(),
    ] {
        assert!(status.contains(expected), "{expected} in {status}");
    }
    b.screenshot(&shots.join("7-status.png")).await;

    // Nothing but this server was asked for anything (`data:` URLs, such as the date field's
    // icon, are inline), and the page threw nothing.
    let requests = b.requests.lock().unwrap().clone();
    assert!(
        requests.len() > 20,
        "the requests were recorded: {requests:?}"
    );
    let elsewhere: Vec<&String> = requests
        .iter()
        .filter(|u| !u.starts_with(&base) && !u.starts_with("data:"))
        .collect();
    assert!(
        elsewhere.is_empty(),
        "requests outside the server: {elsewhere:?}"
    );
    assert!(
        b.errors.lock().unwrap().is_empty(),
        "{:?}",
        b.errors.lock().unwrap()
    );
    let page = ureq::get(&base).call().unwrap();
    let csp = page.headers().get("content-security-policy").unwrap();
    assert!(
        csp.to_str().unwrap().starts_with("default-src 'self'"),
        "{csp:?}"
    );
}
