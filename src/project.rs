//! Which project a working directory belongs to, so the hooks, `memctl` and the MCP server
//! file what they learn under the same name without being told.
//!
//! The rule: inside a git repository with a remote, the project is the remote's address
//! without scheme, user, credentials or `.git` (`github.com/owner/repo`), the same on every
//! machine that clones it; a repository without a remote is its root directory; outside a
//! repository, the working directory itself. Memories with no project form the global layer:
//! what applies everywhere (the user's preferences).
//!
//! Detection reads `.git` and the repository's `config` directly rather than running `git`:
//! a hook has a 50 ms budget from process start to exit, and a `git` subprocess alone can
//! take a good part of it.

use std::fs;
use std::path::{Path, PathBuf};

/// A project found from a working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The name memories are filed under (`context.project`).
    pub name: String,
    /// The repository's root, or the working directory outside a repository.
    pub root: PathBuf,
    /// The remote's address as found (credentials removed), when there is one.
    pub repo: Option<String>,
}

/// The path of a `file://` URI (`file:///home/a%20b` is `/home/a b`); `None` for any other.
fn local_path(uri: &str) -> Option<PathBuf> {
    let url = url::Url::parse(uri).ok()?;
    (url.scheme() == "file")
        .then(|| url.to_file_path().ok())
        .flatten()
}

/// Most directories walked up looking for `.git`: deep enough for any real tree, and a
/// bound on a pathological one.
const MAX_DEPTH: usize = 64;

impl Project {
    /// The project of the first of `roots` (an MCP client's root URIs) that is a directory
    /// here; `None` when none is (a root may be another scheme, or another machine's path).
    pub fn of_roots<'a>(roots: impl IntoIterator<Item = &'a str>) -> Option<Project> {
        roots
            .into_iter()
            .filter_map(local_path)
            .find(|dir| dir.is_dir())
            .map(|dir| Project::detect(&dir))
    }

    /// The project of `cwd`: the git remote, the git root, or `cwd` itself.
    pub fn detect(cwd: &Path) -> Project {
        let cwd = fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_path_buf());
        let Some((root, git_dir)) = find_git(&cwd) else {
            return Project {
                name: path_name(&cwd),
                root: cwd,
                repo: None,
            };
        };
        let remote = fs::read_to_string(common_dir(&git_dir).join("config"))
            .ok()
            .and_then(|config| remote_url(&config));
        match remote.as_deref().and_then(normalize_remote) {
            Some(name) => Project {
                name,
                root,
                repo: remote.map(|r| strip_credentials(&r)),
            },
            None => Project {
                name: path_name(&root),
                root,
                repo: None,
            },
        }
    }
}

impl Project {
    /// The project's own namespace (when each project has a store): its name in letters,
    /// digits and `-`, the end kept when it is long (the repository's name is there).
    pub fn namespace(&self) -> String {
        let mut slug = String::new();
        for c in self.name.chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let slug = slug.trim_end_matches('-');
        let start = slug.len().saturating_sub(NAMESPACE_CHARS);
        match slug[start..].trim_start_matches('-') {
            "" => "project".to_owned(),
            tail => tail.to_owned(),
        }
    }
}

/// Longest namespace a project gets (the limit of a namespace name).
const NAMESPACE_CHARS: usize = 64;

fn path_name(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The nearest directory at or above `cwd` holding `.git`, and the git directory it names
/// (`.git` itself, or where a worktree's or submodule's `.git` file points).
fn find_git(cwd: &Path) -> Option<(PathBuf, PathBuf)> {
    for dir in cwd.ancestors().take(MAX_DEPTH) {
        let dot_git = dir.join(".git");
        let Ok(meta) = fs::metadata(&dot_git) else {
            continue;
        };
        if meta.is_dir() {
            return Some((dir.to_path_buf(), dot_git));
        }
        let text = fs::read_to_string(&dot_git).ok()?;
        let target = text.trim().strip_prefix("gitdir:")?.trim();
        return Some((dir.to_path_buf(), dir.join(target)));
    }
    None
}

/// The directory holding a repository's shared files (its `config`): a linked worktree's git
/// directory names it in `commondir`.
fn common_dir(git_dir: &Path) -> PathBuf {
    match fs::read_to_string(git_dir.join("commondir")) {
        Ok(rel) => git_dir.join(rel.trim()),
        Err(_) => git_dir.to_path_buf(),
    }
}

/// The `url` of the `origin` remote in a git config file, or of the first remote when there
/// is no `origin`.
fn remote_url(config: &str) -> Option<String> {
    let mut section: Option<String> = None;
    let mut first: Option<String> = None;
    for line in config.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line
                .strip_prefix("[remote \"")
                .and_then(|rest| rest.strip_suffix("\"]"))
                .map(str::to_owned);
            continue;
        }
        let Some(remote) = &section else { continue };
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() != "url" {
            continue;
        }
        let url = value.trim().trim_matches('"').to_owned();
        if remote == "origin" {
            return Some(url);
        }
        first.get_or_insert(url);
    }
    first
}

/// A remote address as a project name: host and path, lower-case host, no scheme, user,
/// password, port or `.git`. `git@github.com:o/r.git` and `https://tok@github.com/o/r` are
/// both `github.com/o/r`. A local path remote keeps its path.
fn normalize_remote(url: &str) -> Option<String> {
    let url = url.trim();
    let (host, path) = if let Some((_, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = authority.rsplit('@').next().unwrap_or(authority);
        (host.split(':').next().unwrap_or(host), path)
    } else if let Some((authority, path)) = url.split_once(':').filter(|(a, _)| !a.contains('/')) {
        (authority.rsplit('@').next().unwrap_or(authority), path)
    } else {
        return (!url.is_empty()).then(|| url.trim_end_matches(".git").to_owned());
    };
    let path = path.trim_matches('/').trim_end_matches(".git");
    if host.is_empty() || path.is_empty() {
        return None;
    }
    Some(format!("{}/{path}", host.to_lowercase()))
}

/// `url` without a password or token in its authority (`https://user:tok@host/…` →
/// `https://host/…`), so a credential in a remote never reaches a memory.
fn strip_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{scheme}://{host}/{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_of_every_form_name_the_same_project() {
        for url in [
            "git@github.com:Owner/repo.git",
            "https://github.com/Owner/repo.git",
            "https://x-access-token:ghp_secret@GitHub.com/Owner/repo",
            "ssh://git@github.com:22/Owner/repo.git",
        ] {
            assert_eq!(
                normalize_remote(url).as_deref(),
                Some("github.com/Owner/repo"),
                "{url}"
            );
        }
        assert_eq!(
            strip_credentials("https://u:ghp_secret@github.com/o/r"),
            "https://github.com/o/r"
        );
    }

    #[test]
    fn the_first_root_that_is_a_directory_here_names_the_project() {
        let dir = tempfile::tempdir().unwrap();
        let spaced = dir.path().join("my project");
        std::fs::create_dir(&spaced).unwrap();
        let uri = url::Url::from_file_path(&spaced).unwrap().to_string();
        assert!(uri.contains("%20"), "{uri}");
        let found = Project::of_roots(["https://example.com/x", "file:///no/such/dir", &uri]);
        assert_eq!(found.map(|p| p.root), Some(spaced.canonicalize().unwrap()));
        assert_eq!(Project::of_roots(["file:///no/such/dir"]), None);
    }

    #[test]
    fn origin_wins_over_other_remotes() {
        let config = "[core]\n\tbare = false\n[remote \"upstream\"]\n\turl = https://a.org/u/x\n\
                      [remote \"origin\"]\n\turl = git@b.org:me/x.git\n";
        assert_eq!(remote_url(config).as_deref(), Some("git@b.org:me/x.git"));
        assert_eq!(
            remote_url("[remote \"fork\"]\nurl = https://c.org/f/y\n").as_deref(),
            Some("https://c.org/f/y")
        );
        assert_eq!(remote_url("[core]\n"), None);
    }

    #[test]
    fn a_repository_a_worktree_and_a_plain_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        let repo = root.join("repo");
        fs::create_dir_all(repo.join(".git/worktrees/wt")).unwrap();
        fs::create_dir_all(repo.join("src/deep")).unwrap();
        fs::write(
            repo.join(".git/config"),
            "[remote \"origin\"]\n\turl = https://tok@github.com/me/app.git\n",
        )
        .unwrap();
        let found = Project::detect(&repo.join("src/deep"));
        assert_eq!(found.name, "github.com/me/app");
        assert_eq!(found.root, repo);
        assert_eq!(found.repo.as_deref(), Some("https://github.com/me/app.git"));

        // A linked worktree: `.git` is a file naming its git dir, which names the common dir.
        let wt = root.join("wt");
        fs::create_dir_all(&wt).unwrap();
        let wt_git = repo.join(".git/worktrees/wt");
        fs::write(wt.join(".git"), format!("gitdir: {}\n", wt_git.display())).unwrap();
        fs::write(wt_git.join("commondir"), "../..\n").unwrap();
        assert_eq!(Project::detect(&wt).name, "github.com/me/app");

        // No remote: the root directory; no repository: the directory itself.
        fs::write(repo.join(".git/config"), "[core]\n").unwrap();
        assert_eq!(Project::detect(&repo.join("src")).name, path_name(&repo));
        let plain = root.join("plain");
        fs::create_dir_all(&plain).unwrap();
        assert_eq!(Project::detect(&plain).name, path_name(&plain));
    }

    #[test]
    fn a_project_namespace_is_a_valid_namespace_name() {
        let named = |name: &str| Project {
            name: name.into(),
            root: PathBuf::new(),
            repo: None,
        };
        assert_eq!(
            named("github.com/Me/my_app").namespace(),
            "github-com-me-my-app"
        );
        assert_eq!(named("/").namespace(), "project");
        let long = named(&format!("/home/{}/repo", "x".repeat(100))).namespace();
        assert!(long.len() <= 64 && long.ends_with("-repo"), "{long}");
    }
}
