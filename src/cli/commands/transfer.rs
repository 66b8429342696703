//! export and import.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Cursor, IsTerminal, Read};
use std::path::{Path, PathBuf};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::cli::output::Style;
use crate::cli::{CliError, CliResult, Ctx};
use crate::store::transfer::{
    Counts, DEFAULT_BATCH, Format, ImportOptions, ImportReport, OnError, native,
};

/// Inputs smaller than this import without a progress bar.
const PROGRESS_MIN_BYTES: u64 = 1 << 20;

/// Creates `path` for writing, refusing to replace an existing file without `force`. The file
/// is private to its owner: it holds everything the store knows.
pub fn create_file(path: &Path, force: bool) -> CliResult<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::Exists {
                path: path.to_owned(),
            }
        } else {
            CliError::Io {
                context: format!("cannot create {}", path.display()),
                source,
            }
        }
    })
}

/// A bar on stderr when it is a terminal; hidden otherwise.
fn progress_bar(total: Option<u64>, template: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// File to write (native JSON Lines), or `-` for stdout
    output: PathBuf,
    /// Overwrite the file if it exists
    #[arg(long)]
    force: bool,
}

pub async fn export(ctx: &Ctx, a: ExportArgs) -> CliResult {
    let store = ctx.store().await?;
    let to_stdout = a.output.as_os_str() == "-";
    let stats = store.stats().await?;
    let bar = progress_bar(
        Some(stats.memories + stats.relationships),
        "{spinner} exporting {pos}/{len} records {wide_bar} {eta}",
    );
    let mut progress = |n: u64| bar.set_position(n);
    let report = if to_stdout {
        let mut out = BufWriter::new(std::io::stdout().lock());
        native::export(&store, &mut out, &mut progress).await?
    } else {
        let file = create_file(&a.output, a.force)?;
        let mut out = BufWriter::new(file);
        match native::export(&store, &mut out, &mut progress).await {
            Ok(report) => report,
            Err(err) => {
                // A partial export must not pass for a whole one.
                drop(out);
                let _ = std::fs::remove_file(&a.output);
                return Err(err.into());
            }
        }
    };
    bar.finish_and_clear();
    if to_stdout {
        return Ok(());
    }
    ctx.out.print(
        &json!({"path": a.output, "memories": report.memories,
                "relationships": report.relationships, "embeddings": report.embeddings}),
        |_| {
            format!(
                "exported {} memories ({} with vectors) and {} relationships to {}",
                report.memories,
                report.embeddings,
                report.relationships,
                a.output.display()
            )
        },
    )
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// File to read, or `-` for stdin
    input: PathBuf,
    /// Input format [default: detected from the first line]
    #[arg(long, short = 'f', value_enum)]
    format: Option<Format>,
    /// Report what would be created, updated and skipped, and change nothing
    #[arg(long)]
    dry_run: bool,
    /// What to do with a malformed or invalid record: stop before writing its batch, or skip
    /// it and go on (both report its line)
    #[arg(long, value_enum, default_value = "stop")]
    on_error: OnErrorArg,
    /// Records written per transaction
    #[arg(long, default_value_t = DEFAULT_BATCH)]
    batch_size: usize,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum OnErrorArg {
    Stop,
    Skip,
}

/// Counts bytes read into a progress bar.
struct Counted<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// Reads up to the first non-blank line (to detect the format) and gives back a reader that
/// still starts at the beginning, so line numbers stay right even for stdin.
fn sniff(mut input: BufReader<Box<dyn Read>>) -> CliResult<(String, Box<dyn BufRead>)> {
    let mut consumed = Vec::new();
    let first = loop {
        let mut line = String::new();
        let n = input
            .read_line(&mut line)
            .map_err(CliError::io("cannot read the input"))?;
        consumed.extend_from_slice(line.as_bytes());
        if n == 0 || !line.trim().is_empty() {
            break line;
        }
    };
    Ok((first, Box::new(Cursor::new(consumed).chain(input))))
}

pub async fn import(ctx: &Ctx, a: ImportArgs) -> CliResult {
    let (reader, size): (Box<dyn Read>, Option<u64>) = if a.input.as_os_str() == "-" {
        (Box::new(std::io::stdin()), None)
    } else {
        let file = File::open(&a.input)
            .map_err(CliError::io(format!("cannot open {}", a.input.display())))?;
        let size = file.metadata().ok().map(|m| m.len());
        (Box::new(file), size)
    };
    let bar = match size {
        Some(size) if size >= PROGRESS_MIN_BYTES => progress_bar(
            Some(size),
            "{spinner} importing {bytes}/{total_bytes} {wide_bar} {eta}",
        ),
        _ => ProgressBar::hidden(),
    };
    let reader: Box<dyn Read> = Box::new(Counted {
        inner: reader,
        bar: bar.clone(),
    });
    let (first, input) = sniff(BufReader::new(reader))?;
    if first.trim().is_empty() {
        return Err(CliError::Usage(format!(
            "{} is empty; nothing to import",
            a.input.display()
        )));
    }
    let format = a.format.unwrap_or_else(|| Format::detect(first.trim()));
    let store = if a.dry_run {
        ctx.store().await?
    } else {
        ctx.store_or_create().await?
    };
    let options = ImportOptions {
        dry_run: a.dry_run,
        on_error: match a.on_error {
            OnErrorArg::Stop => OnError::Stop,
            OnErrorArg::Skip => OnError::Skip,
        },
        batch_size: a.batch_size,
    };
    let report = store.import(format.read(input), options).await?;
    bar.finish_and_clear();
    for e in &report.errors {
        eprintln!("memctl: {}: {}: {}", a.input.display(), e.at, e.message);
    }
    ctx.out
        .print(&report, |out| human_report(out, &report, format))?;
    match &report.stopped_at {
        Some(at) => Err(CliError::Failed(format!(
            "import stopped at {at} of {}; earlier batches were {}; fix the record or pass --on-error skip",
            a.input.display(),
            if a.dry_run { "checked" } else { "imported" }
        ))),
        None => Ok(()),
    }
}

fn human_report(out: &crate::cli::Output, r: &ImportReport, format: Format) -> String {
    let line = |what: &str, c: &Counts| {
        let reasons: Vec<String> = c
            .skipped_by_reason
            .iter()
            .map(|(k, n)| format!("{n} {}", k.replace('_', " ")))
            .collect();
        format!(
            "{what:<14} {} created, {} updated, {} skipped{}",
            c.created,
            c.updated,
            c.skipped,
            if reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", reasons.join(", "))
            }
        )
    };
    let format = serde_json::to_value(format)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut text = String::new();
    if r.dry_run {
        text.push_str(&out.paint(Style::Yellow, "dry run: nothing was written\n"));
    }
    text.push_str(&format!("{format} import\n"));
    text.push_str(&line("memories", &r.memories));
    text.push('\n');
    text.push_str(&line("relationships", &r.relationships));
    if !r.errors.is_empty() {
        text.push_str(&format!(
            "\n{} bad records (listed on stderr)",
            r.errors.len()
        ));
    }
    text
}
