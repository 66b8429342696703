//! The README's screenshot of the viewer, `docs/viewer.png`, made on demand:
//!
//! ```text
//! cargo test --test integration viewer::readme -- --ignored
//! ```

use std::path::Path;

use super::cdp::{Browser, chromium};
use super::{Served, seed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes docs/viewer.png; run on demand (see the module's doc)"]
async fn writes_the_readme_screenshot() {
    let chromium = chromium().expect("Chromium (Debian package `chromium`)");
    let served = Served::start().await;
    let ids = seed(&served.app).await;
    let b = Browser::start(&chromium, 1280, 800).await;
    b.goto(&format!("{}#/graph?id={}&depth=3", served.base, ids.error))
        .await;
    b.wait_for(
        "document.querySelector('#graph')?.dataset.settled === 'true'",
        "the layout",
    )
    .await;
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/viewer.png");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    b.screenshot(&out).await;
}
