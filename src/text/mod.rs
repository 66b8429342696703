//! Turning user text into search terms.
//!
//! User text never reaches FTS5 as syntax. A query is split into terms exactly where FTS5's
//! `unicode61` tokenizer splits documents (anything but letters and digits separates), so
//! quotes, `*`, `-`, `NEAR`, `AND`, parentheses, colons and emoji are plain separators or
//! plain words, and each backend quotes the terms it receives.

mod snippet;

pub use snippet::{Token, fields, loosely_matches, snippet, token_spans};

/// Most terms a query keeps; the rest are dropped (long pasted text stays fast).
pub const MAX_QUERY_TERMS: usize = 32;

/// English function words that match nearly every memory and rank nothing.
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be",
    "been", "before", "being", "but", "by", "can", "could", "did", "do", "does", "doing", "for",
    "from", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how", "i",
    "if", "in", "into", "is", "it", "its", "just", "me", "my", "no", "nor", "not", "of", "on",
    "or", "our", "ours", "she", "should", "so", "some", "such", "than", "that", "the", "their",
    "them", "then", "there", "these", "they", "this", "those", "to", "too", "up", "us", "very",
    "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will",
    "with", "would", "you", "your", "yours",
];

/// True when `word` (lower-case) is a stopword.
pub fn is_stopword(word: &str) -> bool {
    STOPWORDS.binary_search(&word).is_ok()
}

/// Lower-cased runs of letters and digits, in order.
pub fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
}

/// The distinct search terms of a query, at most [`MAX_QUERY_TERMS`]. Stopwords are dropped
/// unless nothing else is left ("how to" still searches for something).
pub fn query_terms(query: &str) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for token in tokens(query) {
        if !all.contains(&token) {
            all.push(token);
        }
    }
    let content: Vec<String> = all.iter().filter(|t| !is_stopword(t)).cloned().collect();
    let mut terms = if content.is_empty() { all } else { content };
    terms.truncate(MAX_QUERY_TERMS);
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopwords_are_sorted_for_binary_search() {
        assert!(STOPWORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn syntax_characters_are_separators() {
        assert_eq!(
            query_terms(r#"foo* -bar "baz" (qux) col:umn NEAR/3 AND 🚀x"#),
            ["foo", "bar", "baz", "qux", "col", "umn", "near", "3", "x"]
        );
    }

    #[test]
    fn identifiers_split_at_punctuation() {
        assert_eq!(
            query_terms("snake_case src/main.rs E0502"),
            ["snake", "case", "src", "main", "rs", "e0502"]
        );
    }

    #[test]
    fn stopwords_dropped_unless_alone() {
        assert_eq!(
            query_terms("how do I fix the borrow error"),
            ["fix", "borrow", "error"]
        );
        assert_eq!(query_terms("how to"), ["how", "to"]);
        assert!(query_terms("  ** \"\" () ").is_empty());
    }

    #[test]
    fn terms_are_distinct_and_capped() {
        assert_eq!(query_terms("Rust rust RUST"), ["rust"]);
        let long: String = (0..100).map(|i| format!("w{i} ")).collect();
        assert_eq!(query_terms(&long).len(), MAX_QUERY_TERMS);
    }
}
