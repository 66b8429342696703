//! Which of a query's terms a text holds, found as the full-text index finds them: through
//! their Porter stems, so "token" matches "tokenizer" and "error" matches "errors".

use super::stem;

/// A query's terms with their stems, ready to be looked for in texts.
#[derive(Debug, Clone)]
pub struct StemmedTerms {
    /// (term, its stem), in the query's order.
    terms: Vec<(String, String)>,
    /// The [`Head`]s of each term and of its stem, for [`Self::find_in`].
    heads: Vec<[Head; 2]>,
}

impl StemmedTerms {
    pub fn new(terms: &[String]) -> Self {
        let terms: Vec<(String, String)> = terms.iter().map(|t| (t.clone(), stem(t))).collect();
        let heads = terms
            .iter()
            .map(|(term, stemmed)| [Head::of(term), Head::of(stemmed)])
            .collect();
        StemmedTerms { terms, heads }
    }

    /// The terms, in the query's order.
    pub fn terms(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().map(|(t, _)| t.as_str())
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// For each term, how many of `words` (lower-case tokens) have its stem: the term's
    /// frequency in that text as the full-text index counts it.
    pub fn occurrences(&self, words: &[String]) -> Vec<usize> {
        self.matches(words).map(Iterator::count).collect()
    }

    /// For each term, the first word of `text` (split as [`crate::text::tokens`] splits it)
    /// with the same stem, lower-cased, if any. Searching looks through ~100 memories for
    /// every query, and nearly all their words are not the query's: a word is lower-cased and
    /// compared only when it may match (see [`Head`]).
    pub fn find_in(&self, text: &str) -> Vec<Option<String>> {
        let mut found: Vec<Option<String>> = vec![None; self.terms.len()];
        let mut missing = self.terms.len();
        for word in text.split(|c: char| !c.is_alphanumeric()) {
            if missing == 0 {
                break;
            }
            let Some(head) = Head::lowered(word) else {
                continue;
            };
            let mut lower: Option<String> = None;
            for (((term, stemmed), slot), starts) in
                self.terms.iter().zip(&mut found).zip(&self.heads)
            {
                if slot.is_some() || (head.is_ascii() && !starts.contains(&head)) {
                    continue;
                }
                let lower = lower.get_or_insert_with(|| word.to_lowercase());
                if lower == term || same_stem(lower, stemmed) {
                    *slot = Some(lower.clone());
                    missing -= 1;
                }
            }
        }
        found
    }

    /// For each term, in order, the words among `words` with its stem.
    fn matches<'s, 'w: 's>(
        &'s self,
        words: &'w [String],
    ) -> impl Iterator<Item = impl Iterator<Item = &'w String> + 's> + 's {
        self.terms.iter().map(move |(term, stemmed)| {
            words
                .iter()
                .filter(move |w| *w == term || same_stem(w, stemmed))
        })
    }
}

/// True when `word` stems to `stemmed`. The Porter stemmer only rewrites endings and keeps
/// at least two letters, so a word whose first two bytes differ from the stem's is skipped
/// without stemming it.
fn same_stem(word: &str, stemmed: &str) -> bool {
    word.as_bytes().get(..2) == stemmed.as_bytes().get(..2) && stem(word) == stemmed
}

/// The first two bytes of a word (its one byte and a zero for a one-byte word: no word holds
/// a zero byte). A word can be a term, or have a term's stem, only if it begins like the term
/// or the stem: a stem keeps the word's first two bytes (see [`same_stem`]). The check needs
/// the lower-cased word's head; when the word's first two bytes are ASCII, they lower-case
/// to exactly that, so the word itself is lower-cased only if it passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head([u8; 2]);

impl Head {
    /// The head of a lower-case text.
    fn of(text: &str) -> Head {
        match text.as_bytes() {
            [] => Head([0, 0]),
            [a] => Head([*a, 0]),
            [a, b, ..] => Head([*a, *b]),
        }
    }

    /// The head of `word` lower-cased as ASCII; `None` for an empty word.
    fn lowered(word: &str) -> Option<Head> {
        (!word.is_empty()).then(|| {
            let Head([a, b]) = Head::of(word);
            Head([a.to_ascii_lowercase(), b.to_ascii_lowercase()])
        })
    }

    /// True when both bytes are ASCII: then they are the lower-cased word's first two. A word
    /// starting with another letter may lower-case to anything, and is always compared.
    fn is_ascii(self) -> bool {
        self.0.is_ascii()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        crate::text::tokens(text).collect()
    }

    /// The first word of each term's matches among all of `text`'s words lower-cased: what
    /// [`StemmedTerms::find_in`] must give without lower-casing them all.
    fn first_matches(terms: &StemmedTerms, text: &str) -> Vec<Option<String>> {
        terms
            .matches(&words(text))
            .map(|mut found| found.next().cloned())
            .collect()
    }

    #[test]
    fn terms_match_words_with_their_stem() {
        let terms = StemmedTerms::new(&["token".into(), "errors".into(), "absent".into()]);
        let found = terms.find_in("The Tokenizer raised an error");
        assert_eq!(
            found,
            [Some("tokenizer".into()), Some("error".into()), None]
        );
        let text = words("Errors: one error, then the tokenizer's error again");
        assert_eq!(terms.occurrences(&text), [1, 3, 0]);
        // Unrelated words that merely share a beginning do not match.
        let terms = StemmedTerms::new(&["test".into()]);
        assert_eq!(terms.find_in("a testament"), [None]);
    }

    /// Words are lower-cased only where their start could match, and that shortcut never
    /// changes what is found: upper case, one-letter words, digits, and letters whose lower
    /// case is ASCII or longer (the Kelvin sign, a dotted capital I) all give what lower-casing
    /// every word gives.
    #[test]
    fn finding_in_text_agrees_with_lower_casing_every_word() {
        let queries: [&[&str]; 4] = [
            &["kelvin", "k", "i̇stanbul", "straße"],
            &["tokenizer", "runs", "e0502", "a"],
            &["caching", "flies", "x"],
            &["ünïcode", "über", "hashmap"],
        ];
        let texts = [
            "\u{212A}ELVIN scale; K and k; İSTANBUL, Istanbul; STRASSE Straße",
            "Tokenizers RUN, running: E0502 error A a",
            "Cached CACHES flies FLY fly X-ray x",
            "ÜNÏCODE Über HashMap hashMap hash_map",
            "",
            "   ,,, ",
        ];
        for query in queries {
            let terms: Vec<String> = query.iter().map(|t| (*t).to_owned()).collect();
            let terms = StemmedTerms::new(&terms);
            for text in texts {
                assert_eq!(
                    terms.find_in(text),
                    first_matches(&terms, text),
                    "{query:?} in {text:?}"
                );
            }
        }
        // The cases above do find words, so the agreement is not that of two empty results.
        let terms = StemmedTerms::new(&["kelvin".into(), "k".into(), "straße".into()]);
        let found = terms.find_in(texts[0]);
        assert_eq!(
            found,
            [
                Some("kelvin".into()),
                Some("k".into()),
                Some("straße".into())
            ]
        );
    }
}
