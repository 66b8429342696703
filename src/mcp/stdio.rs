//! The stdio transport: rmcp's JSON-lines transport behind a filter that sees every line
//! first, so that every request gets an answer.
//!
//! rmcp drops a line serde cannot parse without a word, and the client then waits forever for
//! that request's id. Some such lines are JSON to other parsers: a lone UTF-16 surrogate escape
//! (`"\ud800"`, which JavaScript writes for a cut emoji), nesting deeper than serde_json's
//! recursion limit, `NaN` or `1e309`. The filter repairs the first (each lone surrogate escape
//! becomes `\uFFFD`) and answers any other unreadable line with a `-32700` parse error carrying
//! the request's id when a scan of the line finds one (and no id otherwise, as MCP asks).
//! Everything else reaches rmcp unchanged, so its own rules (blank lines, the line cap,
//! `-32600` for JSON that is not a message) still hold.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;

use rmcp::RoleServer;
use rmcp::model::{ErrorCode, ErrorData, RequestId};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::async_rw::{AsyncRwTransport, DEFAULT_MAX_LINE_LENGTH};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream};
use tokio::sync::mpsc;

use super::streams::{Input, Output};

/// Bytes buffered between the filter and rmcp's reader.
const PIPE_CAPACITY: usize = 64 * 1024;

/// The server's transport on stdin and stdout (see `streams.rs`).
pub fn stdio() -> LineGuard<Output> {
    LineGuard::new(Input::stdin(), Output::stdout())
}

/// A line that could not be read, to be answered with a parse error.
#[derive(Debug)]
struct Unreadable {
    id: Option<RequestId>,
    message: String,
}

type Answering = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

/// rmcp's JSON-lines transport reading through the filter; see the module documentation.
pub struct LineGuard<W: AsyncWrite + Send + Unpin + 'static> {
    inner: AsyncRwTransport<RoleServer, DuplexStream, W>,
    unreadable: mpsc::UnboundedReceiver<Unreadable>,
    /// A parse error being written: kept here so that a `receive` cancelled meanwhile (rmcp
    /// polls it in a `select!`) does not lose it.
    answering: Option<Answering>,
}

impl<W: AsyncWrite + Send + Unpin + 'static> LineGuard<W> {
    /// The transport over `read` and `write`; the filter runs in a task of its own, until
    /// `read` ends.
    pub fn new<R: AsyncRead + Send + Unpin + 'static>(read: R, write: W) -> Self {
        // Dropping the filter's end (at the end of `read`) ends rmcp's input too.
        let (pipe_write, pipe_read) = tokio::io::duplex(PIPE_CAPACITY);
        let (unreadable_tx, unreadable) = mpsc::unbounded_channel();
        tokio::spawn(filter(read, pipe_write, unreadable_tx));
        LineGuard {
            inner: AsyncRwTransport::new_server(pipe_read, write),
            unreadable,
            answering: None,
        }
    }
}

impl<W: AsyncWrite + Send + Unpin + 'static> Transport<RoleServer> for LineGuard<W> {
    type Error = io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), io::Error>> + Send + 'static {
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            if let Some(answering) = &mut self.answering {
                if let Err(err) = answering.await {
                    tracing::warn!(%err, "could not answer an unreadable line");
                }
                self.answering = None;
            }
            tokio::select! {
                // An unreadable line is answered before any later line is read.
                biased;
                Some(line) = self.unreadable.recv() => {
                    let answer = TxJsonRpcMessage::<RoleServer>::error(
                        ErrorData::new(ErrorCode::PARSE_ERROR, line.message, None),
                        line.id,
                    );
                    self.answering = Some(Box::pin(self.inner.send(answer)));
                }
                message = self.inner.receive() => return message,
            }
        }
    }

    async fn close(&mut self) -> Result<(), io::Error> {
        self.inner.close().await
    }
}

/// Copies `read` to `to_rmcp` line by line, repairing or diverting the lines serde cannot
/// read. A line over rmcp's cap is passed on as it comes, for rmcp to discard and log.
async fn filter<R: AsyncRead + Unpin>(
    read: R,
    mut to_rmcp: DuplexStream,
    unreadable: mpsc::UnboundedSender<Unreadable>,
) {
    let mut read = BufReader::new(read);
    let mut line = Vec::new();
    // Passing on the rest of a line over the cap.
    let mut passing = false;
    loop {
        let available = match read.fill_buf().await {
            Ok(available) => available,
            Err(err) => {
                tracing::error!(%err, "cannot read stdin");
                break;
            }
        };
        if available.is_empty() {
            // End of input; a last line without its newline is incomplete, as rmcp has it.
            break;
        }
        let newline = available.iter().position(|b| *b == b'\n');
        let take = newline.map_or(available.len(), |i| i + 1);
        let written = if passing || line.len() + take > DEFAULT_MAX_LINE_LENGTH {
            passing = newline.is_none();
            let head = std::mem::take(&mut line);
            let result = async {
                to_rmcp.write_all(&head).await?;
                to_rmcp.write_all(&available[..take]).await
            }
            .await;
            read.consume(take);
            result
        } else {
            line.extend_from_slice(&available[..take]);
            read.consume(take);
            if newline.is_none() {
                continue;
            }
            let result = match checked(&line) {
                Checked::Pass => to_rmcp.write_all(&line).await,
                Checked::Repaired(repaired) => to_rmcp.write_all(&repaired).await,
                Checked::Unreadable(bad) => {
                    let _ = unreadable.send(bad);
                    Ok(())
                }
            };
            line.clear();
            result
        };
        if written.is_err() {
            // rmcp's side is gone: the session is over.
            break;
        }
    }
}

/// What to do with one line.
#[derive(Debug)]
enum Checked {
    Pass,
    Repaired(Vec<u8>),
    Unreadable(Unreadable),
}

/// Decides about one whole line (with its newline).
fn checked(line: &[u8]) -> Checked {
    let text = line.strip_suffix(b"\n").unwrap_or(line);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
    if text.iter().all(u8::is_ascii_whitespace) {
        // rmcp skips blank lines.
        return Checked::Pass;
    }
    let Err(err) = serde_json::from_slice::<Readable>(text) else {
        return Checked::Pass;
    };
    if let Some(mut repaired) = without_lone_surrogates(text)
        && serde_json::from_slice::<serde_json::Value>(&repaired).is_ok()
    {
        tracing::debug!("replaced lone surrogate escapes with U+FFFD");
        repaired.push(b'\n');
        return Checked::Repaired(repaired);
    }
    tracing::debug!(%err, "answering a line that is not JSON with a parse error");
    Checked::Unreadable(Unreadable {
        id: request_id(text),
        message: format!("Parse error: {err}"),
    })
}

/// A JSON value read and dropped. It accepts exactly what [`serde_json::Value`] accepts,
/// since both are read through `deserialize_any` (so numbers out of range, lone surrogate
/// escapes and nesting past the recursion limit fail alike), without building the tree: the
/// check runs on every line, and the tree of a `tools/call` line was a dozen allocations that
/// were thrown away. ([`serde::de::IgnoredAny`] skips numbers and escapes unchecked.)
struct Readable;

impl<'de> Deserialize<'de> for Readable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Readable)
    }
}

impl<'de> Visitor<'de> for Readable {
    type Value = Readable;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Readable, E> {
        Ok(Readable)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Readable, E> {
        Ok(Readable)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Readable, E> {
        Ok(Readable)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Readable, E> {
        Ok(Readable)
    }

    fn visit_str<E>(self, _: &str) -> Result<Readable, E> {
        Ok(Readable)
    }

    fn visit_unit<E>(self) -> Result<Readable, E> {
        Ok(Readable)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Readable, A::Error> {
        while items.next_element::<Readable>()?.is_some() {}
        Ok(Readable)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Readable, A::Error> {
        while entries.next_entry::<Readable, Readable>()?.is_some() {}
        Ok(Readable)
    }
}

/// The code unit of a `\uXXXX` escape starting at `at`.
fn escape_at(text: &[u8], at: usize) -> Option<u16> {
    let escape = text.get(at..at + 6)?;
    let hex = escape.strip_prefix(b"\\u")?;
    if !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

/// `text` with each `\uD800`–`\uDFFF` escape that is not half of a valid pair replaced by
/// `\uFFFD`, or `None` when it has none.
fn without_lone_surrogates(text: &[u8]) -> Option<Vec<u8>> {
    const HIGH: std::ops::Range<u16> = 0xD800..0xDC00;
    const LOW: std::ops::Range<u16> = 0xDC00..0xE000;
    let mut out = Vec::with_capacity(text.len());
    let mut changed = false;
    let mut i = 0;
    while i < text.len() {
        if text[i] != b'\\' {
            out.push(text[i]);
            i += 1;
            continue;
        }
        let (keep, lone) = match escape_at(text, i) {
            Some(unit) if HIGH.contains(&unit) => match escape_at(text, i + 6) {
                Some(next) if LOW.contains(&next) => (12, false),
                _ => (6, true),
            },
            Some(unit) if LOW.contains(&unit) => (6, true),
            Some(_) => (6, false),
            // Any other escape is two bytes: `\\` must not be read as the start of one.
            None => (2, false),
        };
        let end = (i + keep).min(text.len());
        if lone {
            out.extend_from_slice(b"\\uFFFD");
            changed = true;
        } else {
            out.extend_from_slice(&text[i..end]);
        }
        i = end;
    }
    changed.then_some(out)
}

/// The index just past the string starting at `start` (a `"`), if it ends.
fn string_end(text: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < text.len() {
        match text[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The `"id"` of the top-level object of a line that does not parse, found by a scan that
/// follows strings and nesting only, so a request broken further on is still answered to.
fn request_id(text: &[u8]) -> Option<RequestId> {
    let skip_space = |mut i: usize| {
        while text.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    let mut depth = 0usize;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let end = string_end(text, i)?;
                let colon = skip_space(end);
                if depth == 1 && &text[i..end] == b"\"id\"" && text.get(colon) == Some(&b':') {
                    let start = skip_space(colon + 1);
                    let value_end = match text.get(start)? {
                        b'"' => string_end(text, start)?,
                        _ => {
                            start
                                + text[start..]
                                    .iter()
                                    .take_while(|b| b.is_ascii_digit() || b"-+.eE".contains(b))
                                    .count()
                        }
                    };
                    return serde_json::from_slice(&text[start..value_end]).ok();
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use rmcp::model::NumberOrString;

    use super::*;

    fn repaired(text: &str) -> Option<String> {
        without_lone_surrogates(text.as_bytes()).map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn lone_surrogate_escapes_become_replacement_characters_and_pairs_stay() {
        assert_eq!(repaired(r#""a\ud800b""#).unwrap(), r#""a\uFFFDb""#);
        assert_eq!(repaired(r#""\udc00\ud83d""#).unwrap(), r#""\uFFFD\uFFFD""#);
        assert_eq!(
            repaired(r#""\ud83d\ude00 \ud800""#).unwrap(),
            r#""\ud83d\ude00 \uFFFD""#
        );
        assert_eq!(repaired(r#""\ud83d\ude00 \u00e9""#), None);
        // An escaped backslash followed by "ud800" is text, not an escape.
        assert_eq!(repaired(r#""\\ud800""#), None);
    }

    #[test]
    fn the_line_check_accepts_exactly_what_a_json_value_accepts() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let lines = [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_memory","arguments":{"ids":["a"],"n":-1.5e3,"b":true,"z":null}}}"#,
            r#"{"s":"\ud83d\ude00 \u00e9 \n"}"#,
            r#"{"s":"\ud800"}"#,
            r#"{"\udc00":1}"#,
            r#"{"x":NaN}"#,
            r#"{"x":1e309}"#,
            r#"{"x":-1e309}"#,
            r#"{"x":1e308,"y":18446744073709551616}"#,
            r#"{"x":1} trailing"#,
            r#"{"x":[1,2,]}"#,
            r#"{"a":1,"a":2}"#,
            &deep,
            "[[[[[[[[[[]]]]]]]]]]",
        ];
        for line in lines {
            let value = serde_json::from_str::<serde_json::Value>(line).is_ok();
            let readable = serde_json::from_str::<Readable>(line).is_ok();
            assert_eq!(readable, value, "{line}");
        }
        // Both refusals and acceptances occur above.
        assert!(serde_json::from_str::<Readable>(r#"{"x":1e309}"#).is_err());
        assert!(serde_json::from_str::<Readable>(&deep).is_err());
        assert!(serde_json::from_str::<Readable>(lines[0]).is_ok());
    }

    #[test]
    fn the_id_is_found_at_the_top_level_only() {
        let id = |text: &str| request_id(text.as_bytes());
        assert_eq!(
            id(r#"{"jsonrpc":"2.0","id":7,"params":{"x":NaN}}"#),
            Some(NumberOrString::Number(7))
        );
        assert_eq!(
            id(r#"{"params":{"id":1,"s":"}\"id\":2"},"id" : "a-1","x":[[[["#),
            Some(NumberOrString::String("a-1".into()))
        );
        assert_eq!(id(r#"{"params":{"id":1},"method":1e309}"#), None);
        assert_eq!(id(r#"{"id":1.5}"#), None);
        assert_eq!(id("not json"), None);
    }

    #[test]
    fn lines_are_passed_repaired_or_answered() {
        assert!(matches!(checked(b"{\"id\":1}\n"), Checked::Pass));
        assert!(matches!(checked(b"\r\n"), Checked::Pass));
        assert!(matches!(
            checked(b"{\"s\":\"\\ud800\"}\n"),
            Checked::Repaired(line) if line == b"{\"s\":\"\\uFFFD\"}\n"
        ));
        let Checked::Unreadable(line) = checked(b"{\"id\":3,\"n\":NaN}\n") else {
            panic!("NaN is not JSON")
        };
        assert_eq!(line.id, Some(NumberOrString::Number(3)));
        assert!(
            line.message.starts_with("Parse error: "),
            "{}",
            line.message
        );
    }
}
