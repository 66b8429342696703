//! The Porter stemmer, as SQLite's FTS5 `porter` tokenizer applies it.
//!
//! The full-text index stores stems, so "tokenizer" and "token" are one term there. Search
//! needs the same stems outside SQLite: to say which word of a memory a query term matched
//! (an explanation that shows `token → tokenizer` instead of nothing), and to measure how
//! many of a query's terms a memory holds. FTS5 stems only ASCII tokens of 3 to 64 bytes,
//! and so does this; other tokens are their own stem.

/// Longest token FTS5 stems, in bytes.
const MAX_STEMMED: usize = 64;
/// Shortest token FTS5 stems, in bytes.
const MIN_STEMMED: usize = 3;

/// The stem of a lower-case token.
pub fn stem(token: &str) -> String {
    let ascii = token
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !ascii || !(MIN_STEMMED..=MAX_STEMMED).contains(&token.len()) {
        return token.to_owned();
    }
    let mut w = Word(token.as_bytes().to_vec());
    w.step1a();
    w.step1b();
    w.step1c();
    w.step2();
    w.step3();
    w.step4();
    w.step5();
    String::from_utf8(w.0).unwrap_or_else(|_| token.to_owned())
}

/// A word being stemmed, as lower-case ASCII bytes.
struct Word(Vec<u8>);

impl Word {
    /// True when the byte at `i` is a consonant: not a vowel, and `y` only after a vowel or
    /// at the start.
    fn consonant(&self, i: usize) -> bool {
        match self.0[i] {
            b'a' | b'e' | b'i' | b'o' | b'u' => false,
            b'y' => i == 0 || !self.consonant(i - 1),
            _ => true,
        }
    }

    /// Porter's measure m of the first `len` bytes: the number of vowel-consonant sequences.
    fn measure(&self, len: usize) -> usize {
        let mut m = 0;
        let mut i = 0;
        while i < len && self.consonant(i) {
            i += 1;
        }
        loop {
            while i < len && !self.consonant(i) {
                i += 1;
            }
            if i >= len {
                return m;
            }
            while i < len && self.consonant(i) {
                i += 1;
            }
            m += 1;
        }
    }

    /// True when the first `len` bytes hold a vowel.
    fn has_vowel(&self, len: usize) -> bool {
        (0..len).any(|i| !self.consonant(i))
    }

    /// True when the first `len` bytes end in a double consonant.
    fn double_consonant(&self, len: usize) -> bool {
        len >= 2 && self.0[len - 1] == self.0[len - 2] && self.consonant(len - 1)
    }

    /// True when the first `len` bytes end consonant-vowel-consonant, the last not w, x or y.
    fn cvc(&self, len: usize) -> bool {
        len >= 3
            && self.consonant(len - 3)
            && !self.consonant(len - 2)
            && self.consonant(len - 1)
            && !matches!(self.0[len - 1], b'w' | b'x' | b'y')
    }

    fn ends(&self, suffix: &str) -> bool {
        self.0.ends_with(suffix.as_bytes())
    }

    /// Length of the word without `suffix` (which it must end with).
    fn stem_len(&self, suffix: &str) -> usize {
        self.0.len() - suffix.len()
    }

    fn replace(&mut self, suffix: &str, with: &str) {
        let len = self.stem_len(suffix);
        self.0.truncate(len);
        self.0.extend_from_slice(with.as_bytes());
    }

    /// Replaces the first of `rules` whose suffix the word ends with, when the stem left
    /// has a measure above `min_measure`; the first matching suffix ends the search either way.
    fn rule(&mut self, rules: &[(&str, &str)], min_measure: usize) {
        if let Some((suffix, with)) = rules.iter().find(|(s, _)| self.ends(s))
            && self.measure(self.stem_len(suffix)) > min_measure
        {
            self.replace(suffix, with);
        }
    }

    fn step1a(&mut self) {
        if self.ends("sses") {
            self.replace("sses", "ss");
        } else if self.ends("ies") {
            self.replace("ies", "i");
        } else if !self.ends("ss") && self.ends("s") {
            self.replace("s", "");
        }
    }

    fn step1b(&mut self) {
        if self.ends("eed") {
            if self.measure(self.stem_len("eed")) > 0 {
                self.replace("eed", "ee");
            }
            return;
        }
        let Some(suffix) = ["ed", "ing"]
            .into_iter()
            .find(|s| self.ends(s) && self.has_vowel(self.stem_len(s)))
        else {
            return;
        };
        self.replace(suffix, "");
        let len = self.0.len();
        if self.ends("at") || self.ends("bl") || self.ends("iz") {
            self.0.push(b'e');
        } else if self.double_consonant(len) && !matches!(self.0[len - 1], b'l' | b's' | b'z') {
            self.0.pop();
        } else if self.measure(len) == 1 && self.cvc(len) {
            self.0.push(b'e');
        }
    }

    fn step1c(&mut self) {
        if self.ends("y") && self.has_vowel(self.stem_len("y")) {
            self.replace("y", "i");
        }
    }

    fn step2(&mut self) {
        self.rule(
            &[
                ("ational", "ate"),
                ("tional", "tion"),
                ("enci", "ence"),
                ("anci", "ance"),
                ("izer", "ize"),
                ("bli", "ble"),
                ("alli", "al"),
                ("entli", "ent"),
                ("eli", "e"),
                ("ousli", "ous"),
                ("ization", "ize"),
                ("ation", "ate"),
                ("ator", "ate"),
                ("alism", "al"),
                ("iveness", "ive"),
                ("fulness", "ful"),
                ("ousness", "ous"),
                ("aliti", "al"),
                ("iviti", "ive"),
                ("biliti", "ble"),
                ("logi", "log"),
            ],
            0,
        );
    }

    fn step3(&mut self) {
        self.rule(
            &[
                ("icate", "ic"),
                ("ative", ""),
                ("alize", "al"),
                ("iciti", "ic"),
                ("ical", "ic"),
                ("ful", ""),
                ("ness", ""),
            ],
            0,
        );
    }

    fn step4(&mut self) {
        const SUFFIXES: [&str; 19] = [
            "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion",
            "ou", "ism", "ate", "iti", "ous", "ive", "ize",
        ];
        // The longest suffix the word ends with decides ("ement" before "ment" before "ent").
        let Some(suffix) = SUFFIXES
            .iter()
            .filter(|s| self.ends(s))
            .max_by_key(|s| s.len())
        else {
            return;
        };
        let len = self.stem_len(suffix);
        if self.measure(len) > 1
            && (*suffix != "ion" || (len > 0 && matches!(self.0[len - 1], b's' | b't')))
        {
            self.0.truncate(len);
        }
    }

    fn step5(&mut self) {
        if self.ends("e") {
            let len = self.stem_len("e");
            let m = self.measure(len);
            if m > 1 || (m == 1 && !self.cvc(len)) {
                self.0.truncate(len);
            }
        }
        let len = self.0.len();
        if self.ends("ll") && self.measure(len) > 1 {
            self.0.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::stem;

    /// Pairs checked against SQLite's FTS5 `porter unicode61` tokenizer (through an
    /// `fts5vocab` table), including the cases where its rules differ from other stemmers.
    #[test]
    fn stems_like_fts5() {
        let pairs = [
            ("tokenizer", "token"),
            ("running", "run"),
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("generalizations", "gener"),
            ("relational", "relat"),
            ("conditional", "condit"),
            ("hopeful", "hope"),
            ("happy", "happi"),
            ("sky", "sky"),
            ("database", "databas"),
            ("locked", "lock"),
            ("agreed", "agre"),
            ("feed", "feed"),
            ("hoping", "hope"),
            ("filing", "file"),
            ("falling", "fall"),
            ("hissing", "hiss"),
            ("controll", "control"),
            ("adjustment", "adjust"),
            ("dependent", "depend"),
            ("adoption", "adopt"),
            ("probate", "probat"),
            ("rate", "rate"),
            ("cease", "ceas"),
            ("triplicate", "triplic"),
            ("electrical", "electr"),
            ("goodness", "good"),
            ("analogi", "analog"),
            ("ab", "ab"),
            ("e0502", "e0502"),
            ("été", "été"),
        ];
        for (word, expected) in pairs {
            assert_eq!(stem(word), expected, "{word}");
        }
    }
}
