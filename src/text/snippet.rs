//! Snippets: a short excerpt of a memory around the words a query matched.

use crate::model::{KeywordHit, KeywordMatch, Memory};

/// Tokens in a snippet window.
const SNIPPET_TOKENS: usize = 16;

/// The three indexed columns of a memory: title, content, tags (space-separated).
pub fn fields(m: &Memory) -> [String; 3] {
    [m.title.clone(), m.content.clone(), m.tags.join(" ")]
}

/// A token of an indexed text: where it is and its lower-cased form.
pub struct Token {
    pub start: usize,
    pub end: usize,
    pub lower: String,
}

/// The tokens of `text` as [`crate::text::tokens`] splits it, with their byte spans.
pub fn token_spans(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(Token {
                    start: s,
                    end: i,
                    lower: text[s..i].to_lowercase(),
                });
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(Token {
            start: s,
            end: text.len(),
            lower: text[s..].to_lowercase(),
        });
    }
    out
}

/// An excerpt of the field with the most matched tokens (title first on ties), around its
/// densest run of matches, with matched tokens wrapped in `[` `]` and `…` where text was cut.
pub fn snippet(
    texts: &[String; 3],
    cols: &[Vec<Token>; 3],
    is_match: impl Fn(&Token) -> bool,
) -> String {
    // Whether each token matches, decided once per token (matching may stem or compare
    // against every term).
    let matched = cols
        .each_ref()
        .map(|col| col.iter().map(&is_match).collect::<Vec<bool>>());
    let count = |flags: &[bool]| flags.iter().filter(|&&m| m).count();
    let Some(best) =
        (0..3).max_by(|&a, &b| count(&matched[a]).cmp(&count(&matched[b])).then(b.cmp(&a)))
    else {
        return String::new();
    };
    let (text, tokens, matched) = (&texts[best], &cols[best], &matched[best]);
    if tokens.is_empty() {
        return String::new();
    }
    // The window of SNIPPET_TOKENS tokens holding the most matches, starting a little before
    // its first match.
    let mut start = 0;
    let mut best_count = 0;
    for (i, _) in matched.iter().enumerate().filter(|(_, m)| **m) {
        let s = i.saturating_sub(2);
        let n = count(&matched[s..(s + SNIPPET_TOKENS).min(tokens.len())]);
        if n > best_count {
            best_count = n;
            start = s;
        }
    }
    // Fill the window rather than end it early.
    let start = start.min(tokens.len().saturating_sub(SNIPPET_TOKENS));
    let end = (start + SNIPPET_TOKENS).min(tokens.len());
    let mut out = String::new();
    let mut pos = if start > 0 {
        out.push('…');
        tokens[start].start
    } else {
        0
    };
    for (t, &is_matched) in tokens[start..end].iter().zip(&matched[start..end]) {
        out.push_str(&text[pos..t.start]);
        if is_matched {
            out.push('[');
            out.push_str(&text[t.start..t.end]);
            out.push(']');
        } else {
            out.push_str(&text[t.start..t.end]);
        }
        pos = t.end;
    }
    if end < tokens.len() {
        out.push('…');
    } else {
        out.push_str(&text[pos..]);
    }
    out
}

/// The snippet of a keyword hit for a query's `terms` (as [`crate::text::query_terms`] makes
/// them): [`snippet`] of the memory's fields, marking the tokens that [`loosely_matches`] a
/// term. Made from the memory's text rather than by FTS5's `snippet()`, which would search
/// the index again for every hit.
pub fn highlight(memory: &Memory, terms: &[String]) -> String {
    let texts = fields(memory);
    let cols = texts.each_ref().map(|t| token_spans(t));
    snippet(&texts, &cols, |token| {
        terms.iter().any(|term| loosely_matches(&token.lower, term))
    })
}

/// `found` as a hit, with its [`highlight`] for `terms`.
pub fn highlighted(found: KeywordMatch, terms: &[String]) -> KeywordHit {
    KeywordHit {
        snippet: highlight(&found.memory, terms),
        memory: found.memory,
        score: found.score,
    }
}

/// True when `token` and `term` (both lower-case) look like forms of one word: equal, or
/// sharing a prefix of at least three characters that leaves at most four on either side.
/// FTS5 matches through its Porter stemmer, which snippets cannot see; this is close enough
/// to highlight "errors" for "error" and "running" for "run" without marking unrelated words.
pub fn loosely_matches(token: &str, term: &str) -> bool {
    if token == term {
        return true;
    }
    // Different first characters share no prefix: most tokens end here.
    if token.as_bytes().first() != term.as_bytes().first() {
        return false;
    }
    let common = token
        .chars()
        .zip(term.chars())
        .take_while(|(a, b)| a == b)
        .count();
    common >= 3 && token.chars().count() - common <= 4 && term.chars().count() - common <= 4
}

/// The content on one line, cut at a word boundary to at most `max` characters.
pub fn excerpt(content: &str, max: usize) -> String {
    let flat = content.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    if max < 2 {
        return String::new();
    }
    let cut: String = flat.chars().take(max - 1).collect();
    let cut = match cut.rfind(' ') {
        Some(space) if space > cut.len() / 2 => &cut[..space],
        _ => &cut,
    };
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_cut_at_words() {
        assert_eq!(excerpt("one  two\nthree", 50), "one two three");
        assert_eq!(excerpt("alpha beta gamma delta", 12), "alpha beta…");
        assert_eq!(excerpt("alpha", 1), "");
    }

    fn texts(title: &str, content: &str, tags: &str) -> [String; 3] {
        [title.to_owned(), content.to_owned(), tags.to_owned()]
    }

    fn needle(t: &Token) -> bool {
        t.lower == "needle"
    }

    #[test]
    fn snippet_wraps_matches_of_the_best_field() {
        let long = "one two three four five six seven eight nine ten eleven twelve thirteen \
                    fourteen fifteen sixteen Needle seventeen eighteen nineteen twenty twentyone \
                    twentytwo twentythree twentyfour twentyfive twentysix twentyseven thirty \
                    thirtyone thirtytwo thirtythree";
        // One match each in title, content and tags: the title wins the tie.
        let t = texts("Title with needle", long, "needle other");
        let cols = t.clone().map(|f| token_spans(&f));
        assert_eq!(snippet(&t, &cols, needle), "Title with [needle]");

        let t = texts("Title", long, "");
        let cols = t.clone().map(|f| token_spans(&f));
        let s = snippet(&t, &cols, needle);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("sixteen [Needle] seventeen"), "{s}");
        assert!(s.split_whitespace().count() <= SNIPPET_TOKENS, "{s}");

        let t = texts("a", "C'est l'été: NEEDLE, needle!", "");
        let cols = t.clone().map(|f| token_spans(&f));
        assert_eq!(
            snippet(&t, &cols, needle),
            "C'est l'été: [NEEDLE], [needle]!"
        );
    }

    #[test]
    fn token_spans_split_like_text_tokens() {
        let text = "snake_case src/main.rs E0502 — ünïcödé 🚀x";
        let spans: Vec<String> = token_spans(text).into_iter().map(|t| t.lower).collect();
        let tokens: Vec<String> = crate::text::tokens(text).collect();
        assert_eq!(spans, tokens);
        for t in token_spans(text) {
            assert_eq!(text[t.start..t.end].to_lowercase(), t.lower);
        }
    }

    #[test]
    fn inflections_match_and_neighbours_do_not() {
        assert!(loosely_matches("errors", "error"));
        assert!(loosely_matches("running", "run"));
        assert!(loosely_matches("ponies", "pony"));
        assert!(!loosely_matches("cat", "car"));
        assert!(!loosely_matches("testament", "test"));
    }
}
