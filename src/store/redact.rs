//! Secrets never stored: every text a write brings is scrubbed before it reaches a backend.
//!
//! Assistants paste what they see, and what they see includes API keys, tokens in URLs and
//! `.env` files. A memory outlives the session, is synced to a primary and exported, so a
//! secret written once would be leaked many times. The store therefore runs every write path
//! (create, update, link, import, whatever front end it came from) through a [`Redactor`]
//! before validation, and replaces each secret with a marker naming what it was
//! (`[REDACTED:github-token]`) so the memory still reads sensibly. Callers are told how many
//! secrets were taken out.
//!
//! The built-in rules aim at things that are secrets by their shape; they must not eat
//! ordinary code (`let token = next();`) or placeholders (`API_KEY=$OPENAI_API_KEY`). Users
//! add their own patterns, or turn a built-in rule off, in the config file's `[redaction]`
//! table.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::Context;

/// The text that takes a secret's place; `name` says what sort of secret it was.
fn marker(name: &str) -> String {
    format!("[REDACTED:{name}]")
}

/// What the config file's `[redaction]` table says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedactionConfig {
    /// Extra patterns, each replaced as a whole by `[REDACTED:<name>]`.
    pub patterns: Vec<CustomPattern>,
    /// Built-in rules to turn off, by name (see [`BUILTIN_NAMES`]).
    pub disable: Vec<String>,
}

/// A user's pattern: a regular expression (Rust `regex` syntax) and the name its marker shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPattern {
    pub name: String,
    pub regex: String,
}

/// A `[redaction]` table that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RedactionError {
    #[error("redaction pattern {name:?} is not a valid regular expression: {message}")]
    BadPattern { name: String, message: String },
    #[error("redaction pattern name {name:?} must be 1 to 32 letters, digits, '-' or '_'")]
    BadName { name: String },
    #[error("there is no built-in redaction rule {name:?} to disable; the rules are: {known}")]
    UnknownRule { name: String, known: String },
}

/// How a rule's match is replaced.
#[derive(Debug, Clone, Copy)]
enum Keep {
    /// The whole match is the secret.
    Nothing,
    /// Capture groups `prefix` and `suffix` are kept around the marker (`KEY=`, `user:`…`@`).
    Around,
}

#[derive(Debug, Clone)]
struct Rule {
    name: String,
    regex: Regex,
    keep: Keep,
}

/// The built-in rules, in the order they run: blocks first (a key inside a `<private>` block
/// counts once), then tokens recognised by their shape, then assignments and URLs, whose
/// values may be anything.
const BUILTIN: &[(&str, &str, Keep)] = &[
    (
        "private",
        r"(?s)<private>.*?(?:</private>|\z)",
        Keep::Nothing,
    ),
    (
        "private-key",
        r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\z)",
        Keep::Nothing,
    ),
    ("api-key", r"\bsk-[A-Za-z0-9_-]{20,}", Keep::Nothing),
    (
        "github-token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})",
        Keep::Nothing,
    ),
    ("aws-key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", Keep::Nothing),
    (
        "slack-token",
        r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
        Keep::Nothing,
    ),
    ("google-api-key", r"\bAIza[0-9A-Za-z_-]{35}", Keep::Nothing),
    (
        "stripe-key",
        r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}",
        Keep::Nothing,
    ),
    (
        "jwt",
        r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
        Keep::Nothing,
    ),
    (
        "bearer",
        r"(?i)(?P<prefix>\b(?:authorization:\s*)?(?:bearer|token)\s+)(?P<secret>[A-Za-z0-9._~+/-]{20,}=*)(?P<suffix>)",
        Keep::Around,
    ),
    (
        "env-secret",
        r#"(?m)(?P<prefix>^[ \t]*(?:export[ \t]+)?[A-Z][A-Z0-9_]*(?:KEY|SECRET|TOKEN|PASSWORD|PASSWD|PASS|PWD|CREDENTIALS?|AUTH)[A-Z0-9_]*[ \t]*=[ \t]*["']?)(?P<secret>[^\s"'$\[<][^\s"']{3,})(?P<suffix>)"#,
        Keep::Around,
    ),
    (
        "url-password",
        r"(?P<prefix>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]+:)(?P<secret>[^\s@/\[]+)(?P<suffix>@)",
        Keep::Around,
    ),
];

/// The names of the built-in rules, for `[redaction] disable`.
pub const BUILTIN_NAMES: &[&str] = &[
    "private",
    "private-key",
    "api-key",
    "github-token",
    "aws-key",
    "slack-token",
    "google-api-key",
    "stripe-key",
    "jwt",
    "bearer",
    "env-secret",
    "url-password",
];

static BUILTIN_RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    BUILTIN
        .iter()
        .map(|(name, pattern, keep)| Rule {
            name: (*name).to_owned(),
            regex: Regex::new(pattern).expect("built-in redaction patterns compile"),
            keep: *keep,
        })
        .collect()
});

/// Finds secrets in text and replaces them with markers.
#[derive(Debug, Clone)]
pub struct Redactor {
    rules: Vec<Rule>,
}

impl Default for Redactor {
    /// Every built-in rule and nothing else.
    fn default() -> Self {
        Redactor {
            rules: BUILTIN_RULES.clone(),
        }
    }
}

impl Redactor {
    /// The built-in rules minus those `config` disables, plus its own patterns.
    pub fn new(config: &RedactionConfig) -> Result<Self, RedactionError> {
        for name in &config.disable {
            if !BUILTIN_NAMES.contains(&name.as_str()) {
                return Err(RedactionError::UnknownRule {
                    name: name.clone(),
                    known: BUILTIN_NAMES.join(", "),
                });
            }
        }
        let mut rules: Vec<Rule> = BUILTIN_RULES
            .iter()
            .filter(|rule| !config.disable.contains(&rule.name))
            .cloned()
            .collect();
        for custom in &config.patterns {
            let valid_name = (1..=32).contains(&custom.name.len())
                && custom
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid_name {
                return Err(RedactionError::BadName {
                    name: custom.name.clone(),
                });
            }
            let regex = Regex::new(&custom.regex).map_err(|e| RedactionError::BadPattern {
                name: custom.name.clone(),
                message: one_line(&e.to_string()),
            })?;
            rules.push(Rule {
                name: custom.name.clone(),
                regex,
                keep: Keep::Nothing,
            });
        }
        Ok(Redactor { rules })
    }

    /// The rules in the order they run, by name: built-in ones first, then the user's.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|rule| rule.name.as_str())
    }

    /// `text` with its secrets replaced, adding the number replaced to `count`. Text without
    /// secrets is returned as it was, without a copy.
    pub fn text<'a>(&self, text: &'a str, count: &mut usize) -> Cow<'a, str> {
        let mut current = Cow::Borrowed(text);
        for rule in &self.rules {
            if !rule.regex.is_match(&current) {
                continue;
            }
            let mut found = 0;
            let replaced = rule
                .regex
                .replace_all(&current, |caps: &Captures| {
                    found += 1;
                    match rule.keep {
                        Keep::Nothing => marker(&rule.name),
                        Keep::Around => format!(
                            "{}{}{}",
                            &caps["prefix"],
                            marker(&rule.name),
                            &caps["suffix"]
                        ),
                    }
                })
                .into_owned();
            *count += found;
            current = Cow::Owned(replaced);
        }
        current
    }

    /// Replaces secrets in an owned string in place.
    pub fn string(&self, text: &mut String, count: &mut usize) {
        if let Cow::Owned(clean) = self.text(text, count) {
            *text = clean;
        }
    }

    /// Replaces secrets in every string of a JSON value (keys are names, not secrets).
    pub fn json(&self, value: &mut Value, count: &mut usize) {
        match value {
            Value::String(text) => self.string(text, count),
            Value::Array(items) => items.iter_mut().for_each(|v| self.json(v, count)),
            Value::Object(map) => map.values_mut().for_each(|v| self.json(v, count)),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// Replaces secrets in the text of a memory, whichever record carries it: a new one, an
    /// imported one.
    pub fn memory(
        &self,
        title: &mut String,
        content: &mut String,
        tags: &mut [String],
        context: &mut Context,
        count: &mut usize,
    ) {
        self.string(title, count);
        self.string(content, count);
        tags.iter_mut().for_each(|t| self.string(t, count));
        self.context(context, count);
    }

    /// Replaces secrets in every text field of a memory's context.
    pub fn context(&self, context: &mut Context, count: &mut usize) {
        let Context {
            project,
            repo,
            paths,
            language,
            branch,
            commit,
            extra,
        } = context;
        for text in [project, repo, language, branch, commit]
            .into_iter()
            .flatten()
        {
            self.string(text, count);
        }
        paths.iter_mut().for_each(|p| self.string(p, count));
        extra.values_mut().for_each(|v| self.json(v, count));
    }
}

/// The gist of `regex`'s multi-line syntax error (its last line), for a one-line message.
fn one_line(message: &str) -> String {
    let last = message.lines().rfind(|l| !l.trim().is_empty());
    let last = last.unwrap_or(message).trim();
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(text: &str) -> (String, usize) {
        let mut count = 0;
        let clean = Redactor::default().text(text, &mut count).into_owned();
        (clean, count)
    }

    #[test]
    fn builtin_names_list_every_rule() {
        let names: Vec<&str> = BUILTIN.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(names, BUILTIN_NAMES);
        assert_eq!(Redactor::default().rules.len(), BUILTIN.len());
    }

    #[test]
    fn tokens_are_recognised_by_their_shape() {
        let cases = [
            ("key sk-proj-abcdEFGH1234ijklMNOP5678 works", "api-key"),
            ("sk-ant-api03-AAAABBBBCCCCDDDDEEEE_ff", "api-key"),
            ("ghp_0123456789abcdefghijABCDEFGHIJ012345", "github-token"),
            (
                "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
                "github-token",
            ),
            ("aws AKIAIOSFODNN7EXAMPLE id", "aws-key"),
            ("xoxb-123456789012-abcdefghijkl", "slack-token"),
            ("AIzaSyA1234567890abcdefghijklmnopqrstuv", "google-api-key"),
            ("sk_live_0123456789abcdefABCD", "stripe-key"),
            (
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                "jwt",
            ),
        ];
        for (text, name) in cases {
            let (clean, count) = redact(text);
            assert_eq!(count, 1, "{text}: {clean}");
            assert!(clean.contains(&marker(name)), "{text}: {clean}");
        }
    }

    #[test]
    fn blocks_are_removed_whole() {
        let (clean, count) = redact(
            "before\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----\nafter",
        );
        assert_eq!(clean, "before\n[REDACTED:private-key]\nafter");
        assert_eq!(count, 1);
        let (clean, count) =
            redact("keep <private>my ghp_0123456789abcdefghijABCDEFGHIJ012345</private> this");
        assert_eq!(clean, "keep [REDACTED:private] this");
        assert_eq!(count, 1, "a key inside a private block counts once");
        let (clean, _) = redact("cut <private>everything after");
        assert_eq!(clean, "cut [REDACTED:private]");
    }

    #[test]
    fn assignments_and_urls_keep_the_name() {
        let (clean, count) = redact(
            "DATABASE_URL=postgres://app:hunter22@db:5432/x\nexport STRIPE_SECRET=\"abc123def\"\nLOG_LEVEL=debug\n",
        );
        assert_eq!(
            clean,
            "DATABASE_URL=postgres://app:[REDACTED:url-password]@db:5432/x\n\
             export STRIPE_SECRET=\"[REDACTED:env-secret]\"\nLOG_LEVEL=debug\n"
        );
        assert_eq!(count, 2);
        let (clean, count) =
            redact("curl -H 'Authorization: Bearer abcdefghijklmnopqrstuvwxyz012'");
        assert_eq!(clean, "curl -H 'Authorization: Bearer [REDACTED:bearer]'");
        assert_eq!(count, 1);
    }

    #[test]
    fn ordinary_code_and_placeholders_are_left_alone() {
        for text in [
            "let token = tokenizer.next();",
            "API_KEY=$OPENAI_API_KEY",
            "GITHUB_TOKEN=${{ secrets.GITHUB_TOKEN }}",
            "OPENAI_API_KEY=<your key>",
            "a desk-top-and-chair-setup-with-many-words",
            "see https://example.com/path and ssh://git@github.com/x",
            "the token bucket refills",
            "PASSWORD_MIN_LENGTH is 12",
        ] {
            assert_eq!(redact(text), (text.to_owned(), 0), "{text}");
        }
    }

    #[test]
    fn redacting_twice_changes_nothing_more() {
        let (once, first) =
            redact("OPENAI_API_KEY=sk-proj-abcdEFGH1234ijklMNOP5678 and https://u:pw1234@h/");
        assert_eq!(first, 2, "{once}");
        assert_eq!(redact(&once), (once.clone(), 0));
    }

    #[test]
    fn config_adds_patterns_and_disables_rules() {
        let redactor = Redactor::new(&RedactionConfig {
            patterns: vec![CustomPattern {
                name: "internal".into(),
                regex: r"itk_[a-z0-9]{8}".into(),
            }],
            disable: vec!["aws-key".into()],
        })
        .unwrap();
        let mut count = 0;
        let clean = redactor.text("itk_abcd1234 AKIAIOSFODNN7EXAMPLE", &mut count);
        assert_eq!(clean, "[REDACTED:internal] AKIAIOSFODNN7EXAMPLE");
        assert_eq!(count, 1);
    }

    #[test]
    fn bad_config_names_what_is_wrong() {
        let bad_regex = RedactionConfig {
            patterns: vec![CustomPattern {
                name: "mine".into(),
                regex: "(".into(),
            }],
            disable: vec![],
        };
        assert!(matches!(
            Redactor::new(&bad_regex),
            Err(RedactionError::BadPattern { name, message })
                if name == "mine" && message == "unclosed group"
        ));
        let unknown = RedactionConfig {
            patterns: vec![],
            disable: vec!["aws".into()],
        };
        let err = Redactor::new(&unknown).unwrap_err().to_string();
        assert!(err.contains("\"aws\"") && err.contains("aws-key"), "{err}");
    }

    #[test]
    fn json_and_context_strings_are_scrubbed() {
        let mut context = Context {
            repo: Some("https://me:tok3nvalue@github.com/x/y".into()),
            ..Context::default()
        };
        context.extra.insert(
            "env".into(),
            serde_json::json!({"k": ["AKIAIOSFODNN7EXAMPLE"]}),
        );
        let mut count = 0;
        Redactor::default().context(&mut context, &mut count);
        assert_eq!(count, 2);
        assert_eq!(
            context.repo.as_deref(),
            Some("https://me:[REDACTED:url-password]@github.com/x/y")
        );
        assert_eq!(context.extra["env"]["k"][0], "[REDACTED:aws-key]");
    }
}
