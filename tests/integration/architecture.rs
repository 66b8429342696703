//! The layering ARCHITECTURE.md states, checked on the source: a module may use only what is
//! below it, so front ends → composition root → store and sync → backends → leaves, and no
//! two modules of one layer (the two front ends, say) use each other.

use std::path::Path;

/// Each top-level module of `src/` and its layer; a module may name (`crate::…`) only modules
/// of lower layers.
const LAYERS: &[(&str, u8)] = &[
    ("secret", 0),
    ("embed", 1),
    ("error", 2),
    ("model", 3),
    ("private_fs", 3),
    ("text", 4),
    ("vector", 4),
    ("graph", 4),
    ("project", 4),
    ("backend", 5),
    ("sync", 6),
    ("store", 6),
    ("config", 7),
    ("app", 8),
    ("logging", 8),
    ("shutdown", 8),
    ("hooks", 8),
    ("mcp", 9),
    ("cli", 9),
    // `mnemograph serve` serves the MCP front end's tools over HTTP, beside the viewer.
    ("http", 10),
];

fn layer(module: &str) -> Option<u8> {
    // `crate::Error` and `crate::Result` are the error module's, re-exported at the root.
    let module = match module {
        "Error" | "Result" => "error",
        other => other,
    };
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// Every `.rs` file below `dir`.
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_uses_one_above_or_beside_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = first.trim_end_matches(".rs");
        // The binaries use the library by its name; lib.rs only declares the modules.
        if top == "bin" || top == "lib" {
            continue;
        }
        let own = layer(top).unwrap_or_else(|| panic!("{top} has no layer in LAYERS"));
        let text = std::fs::read_to_string(file).unwrap();
        // Unit tests may reach anywhere to set a scene.
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (n, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for (at, _) in line.match_indices("crate::") {
                let used: String = line[at + 7..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let Some(theirs) = layer(&used) else { continue };
                if used != top && theirs >= own {
                    wrong.push(format!("{}:{}: {top} uses {used}", rel.display(), n + 1));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.join("\n")
    );
}
