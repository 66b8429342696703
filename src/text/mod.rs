//! Turning user text into search terms.
//!
//! User text never reaches FTS5 as syntax. A query is split into terms exactly where FTS5's
//! `unicode61` tokenizer splits documents (anything but letters and digits separates), so
//! quotes, `*`, `-`, `NEAR`, `AND`, parentheses, colons and emoji are plain separators or
//! plain words, and each backend quotes the terms it receives.

mod matching;
mod porter;
mod snippet;

pub use matching::StemmedTerms;
pub use porter::stem;
pub use snippet::{
    Token, excerpt, fields, highlight, highlighted, loosely_matches, snippet, token_spans,
};

/// Most terms a query keeps; the rest are dropped (long pasted text stays fast).
pub const MAX_QUERY_TERMS: usize = 32;

/// Longest query (in words) whose adjacent words are also searched joined.
const MAX_JOINED_QUERY_WORDS: usize = 8;

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

/// The words of a camelCase or PascalCase identifier, lower-cased: `HashMap` → `hash`, `map`;
/// `parseHTTPResponse` → `parse`, `http`, `response`. Empty for a word that is not one (a
/// single case change at the start, as in `Caroline`, or letters glued to digits, as in
/// `E0502`, do not split).
pub fn camel_parts(word: &str) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    let mut parts = Vec::new();
    let mut start = 0;
    for i in 1..chars.len() {
        let (prev, here) = (chars[i - 1], chars[i]);
        let next_lower = chars.get(i + 1).is_some_and(|c| c.is_lowercase());
        if here.is_uppercase() && (prev.is_lowercase() || (prev.is_uppercase() && next_lower)) {
            parts.push(chars[start..i].iter().collect::<String>().to_lowercase());
            start = i;
        }
    }
    if parts.is_empty() {
        return parts;
    }
    parts.push(chars[start..].iter().collect::<String>().to_lowercase());
    parts
}

/// The distinct search terms of a query, at most [`MAX_QUERY_TERMS`]. Stopwords are dropped
/// unless nothing else is left ("how to" still searches for something).
///
/// The index keeps an identifier such as `HashMap` as one term, `hashmap` (it only splits
/// at punctuation, so `snake_case` and `src/main.rs` are already findable by their parts). So
/// a query also asks for the words of a camelCase identifier (`HashMap` finds "hash map")
/// and for each two adjacent words joined (`hash map` finds `HashMap`); the added terms come
/// after the query's own, and a term found nowhere costs nothing in ranking.
pub fn query_terms(query: &str) -> Vec<String> {
    let raw: Vec<&str> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect();
    let mut all: Vec<String> = Vec::new();
    let push = |term: String, all: &mut Vec<String>| {
        if !all.contains(&term) {
            all.push(term);
        }
    };
    for word in &raw {
        push(word.to_lowercase(), &mut all);
    }
    for word in &raw {
        for part in camel_parts(word) {
            push(part, &mut all);
        }
    }
    // Joined pairs are for short, typed queries; in pasted text they would only add noise.
    let pairs = if raw.len() <= MAX_JOINED_QUERY_WORDS {
        raw.windows(2)
    } else {
        [].windows(2)
    };
    for pair in pairs {
        let (a, b) = (pair[0].to_lowercase(), pair[1].to_lowercase());
        let joinable = |w: &str| w.chars().count() >= 2 && w.chars().all(char::is_alphabetic);
        if a != b && joinable(&a) && joinable(&b) && !is_stopword(&a) && !is_stopword(&b) {
            push(a + &b, &mut all);
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
        let terms = query_terms(r#"foo* -bar "baz" (qux) col:umn NEAR/3 AND 🚀x"#);
        assert_eq!(
            terms[..9],
            ["foo", "bar", "baz", "qux", "col", "umn", "near", "3", "x"]
        );
        assert!(terms.iter().all(|t| t.chars().all(char::is_alphanumeric)));
    }

    #[test]
    fn camel_case_splits_where_words_begin() {
        assert_eq!(camel_parts("HashMap"), ["hash", "map"]);
        assert_eq!(
            camel_parts("parseHTTPResponse"),
            ["parse", "http", "response"]
        );
        assert_eq!(camel_parts("getX"), ["get", "x"]);
        assert!(camel_parts("Caroline").is_empty());
        assert!(camel_parts("LGBTQ").is_empty());
        assert!(camel_parts("E0502").is_empty());
        assert!(camel_parts("snake").is_empty());
    }

    #[test]
    fn identifiers_are_searched_by_parts_and_joined_words() {
        assert_eq!(
            query_terms("HashMap capacity"),
            ["hashmap", "capacity", "hash", "map", "hashmapcapacity"]
        );
        assert_eq!(query_terms("hash map"), ["hash", "map", "hashmap"]);
        // Stopwords and numbers are never glued to their neighbours.
        assert_eq!(
            query_terms("the borrow error 502"),
            ["borrow", "error", "502", "borrowerror"]
        );
    }

    #[test]
    fn identifiers_split_at_punctuation() {
        assert_eq!(
            query_terms("snake_case src/main.rs E0502")[..6],
            ["snake", "case", "src", "main", "rs", "e0502"]
        );
    }

    #[test]
    fn stopwords_dropped_unless_alone() {
        assert_eq!(
            query_terms("how do I fix the borrow error"),
            ["fix", "borrow", "error", "borrowerror"]
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
