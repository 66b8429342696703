//! Which of a query's terms a text holds, found as the full-text index finds them: through
//! their Porter stems, so "token" matches "tokenizer" and "error" matches "errors".

use super::stem;

/// A query's terms with their stems, ready to be looked for in texts.
#[derive(Debug, Clone)]
pub struct StemmedTerms {
    /// (term, its stem), in the query's order.
    terms: Vec<(String, String)>,
}

impl StemmedTerms {
    pub fn new(terms: &[String]) -> Self {
        StemmedTerms {
            terms: terms.iter().map(|t| (t.clone(), stem(t))).collect(),
        }
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

    /// For each term, the first of `words` (lower-case tokens) with the same stem, if any.
    pub fn find<'w>(&self, words: &'w [String]) -> Vec<Option<&'w str>> {
        self.matches(words)
            .map(|mut found| found.next().map(String::as_str))
            .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        crate::text::tokens(text).collect()
    }

    #[test]
    fn terms_match_words_with_their_stem() {
        let terms = StemmedTerms::new(&["token".into(), "errors".into(), "absent".into()]);
        let text = words("The tokenizer raised an error");
        assert_eq!(terms.find(&text), [Some("tokenizer"), Some("error"), None]);
        let text = words("Errors: one error, then the tokenizer's error again");
        assert_eq!(terms.occurrences(&text), [1, 3, 0]);
        // Unrelated words that merely share a beginning do not match.
        let terms = StemmedTerms::new(&["test".into()]);
        assert_eq!(terms.find(&words("a testament")), [None]);
    }
}
