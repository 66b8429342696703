//! export and import.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Cursor, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::app::App;
use crate::cli::output::{Style, count};
use crate::cli::{CliError, CliResult, Ctx};
use crate::store::transfer::{
    Counts, DEFAULT_BATCH, Format, ImportOptions, ImportReport, OnError, native,
};

/// Inputs smaller than this import without a progress bar.
const PROGRESS_MIN_BYTES: u64 = 1 << 20;

/// A file written at a path the user named (export, backup, graph `--output`). It holds
/// what the store knows, so it is owner-only (0600), and it is safe to name any path:
///
/// - without `--force` an existing entry at the path (file, directory or symlink, even a
///   dangling one) is refused, and the name is reserved with `O_CREAT | O_EXCL`, which never
///   follows a symlink;
/// - the content goes to a temporary file beside the path and is renamed onto it only when
///   complete, so a failed write leaves no partial file, and with `--force` a symlink at the
///   path is itself replaced, never written through to the file it points at;
/// - the store file (and its -wal and -shm) can never be the path.
///
/// Dropped before [`OutputFile::commit`], it removes the temporary file and the reservation.
pub struct OutputFile {
    dest: PathBuf,
    temp: PathBuf,
    /// True while the empty file reserving `dest` (made without `--force`) is ours to remove.
    reserved: bool,
    committed: bool,
}

impl OutputFile {
    /// Reserves `dest` (see the type) and creates the empty temporary file to write into.
    pub fn create(dest: &Path, force: bool, store: &Path) -> CliResult<(Self, File)> {
        let name = dest
            .file_name()
            .ok_or_else(|| CliError::Usage(format!("{} does not name a file", dest.display())))?;
        if is_store_file(dest, store) {
            return Err(CliError::Usage(format!(
                "{} is the store itself; write the copy to another file",
                dest.display()
            )));
        }
        let dir = dest
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let reserved = if force {
            if dest.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                return Err(CliError::Usage(format!(
                    "{} is a directory; name a file",
                    dest.display()
                )));
            }
            false
        } else {
            private_new_file(dest)?;
            true
        };
        let mut output = OutputFile {
            dest: dest.to_owned(),
            temp: dir.join(format!(
                ".{}.{}.tmp",
                name.to_string_lossy(),
                uuid::Uuid::new_v4().simple()
            )),
            reserved,
            committed: false,
        };
        let file = private_new_file(&output.temp).inspect_err(|_| {
            // Nothing was made at the temporary path: only the reservation is ours to undo.
            output.temp = PathBuf::new();
        })?;
        Ok((output, file))
    }

    /// Where the content is written until [`OutputFile::commit`].
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Flushes the finished file to disk and renames it onto the named path.
    pub fn commit(mut self) -> CliResult<()> {
        let at = |what: &str, path: &Path| format!("cannot {what} {}", path.display());
        File::open(&self.temp)
            .and_then(|f| f.sync_all())
            .map_err(CliError::io(at("write", &self.temp)))?;
        std::fs::rename(&self.temp, &self.dest).map_err(CliError::io(at("write", &self.dest)))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
        if self.reserved {
            let _ = std::fs::remove_file(&self.dest);
        }
    }
}

/// Creates `path`, which must not exist (a symlink there counts as existing), owner-only.
fn private_new_file(path: &Path) -> CliResult<File> {
    crate::private_fs::open_options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|source| {
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

/// True when `path` names the store file or its -wal or -shm file. The last component is
/// compared as named (a symlink there is replaced, not followed); the directories leading to
/// it are resolved.
fn is_store_file(path: &Path, store: &Path) -> bool {
    let resolve_dir = |p: &Path| -> Option<PathBuf> {
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = std::fs::canonicalize(dir.unwrap_or(Path::new("."))).ok()?;
        Some(dir.join(p.file_name()?))
    };
    let (Some(path), Some(store)) = (resolve_dir(path), resolve_dir(store)) else {
        return false;
    };
    ["", "-wal", "-shm"].iter().any(|suffix| {
        let mut name = store.clone().into_os_string();
        name.push(suffix);
        path.as_os_str() == name
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
    /// Replace the file if it exists (a symlink there is replaced, not followed)
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
        // A failed export drops `output`, which removes the partial file.
        let (output, file) = OutputFile::create(&a.output, a.force, &ctx.config.db_path.value)?;
        let mut out = BufWriter::new(file);
        let report = native::export(&store, &mut out, &mut progress).await?;
        out.flush()
            .map_err(CliError::io(format!("cannot write {}", a.output.display())))?;
        drop(out);
        output.commit()?;
        report
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
                "exported {} ({} with vectors) and {} to {}",
                count(report.memories, "memory", "memories"),
                report.embeddings,
                count(report.relationships, "relationship", "relationships"),
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
    let store = match a.dry_run {
        // A dry run into a store that does not exist yet previews against an empty one.
        true if !App::exists(&ctx.config) => App::preview(&ctx.config).await?.store().clone(),
        true => ctx.store().await?,
        false => ctx.store_for_write().await?,
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
    ctx.note_redacted(report.redacted as usize);
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
