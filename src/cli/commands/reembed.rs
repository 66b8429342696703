//! reembed, and opening the store with the configured embedder (semantic search, doctor).

use std::io::IsTerminal;
use std::sync::Arc;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::backend::IntegrityCheck;
use crate::cli::output::Style;
use crate::cli::{CliError, CliResult, Ctx};
use crate::embed::{EmbedError, Embedder};
use crate::model::{Stats, StoreMeta};
use crate::store::{DEFAULT_REEMBED_BATCH, MemoryStore, ReembedOptions, ReembedReport};

/// What to do when no embedder is configured.
pub const CONFIGURE_EMBEDDER: &str = "configure one: MNEMOGRAPH_EMBEDDER=model2vec (the \
    default) for the built-in model, with MNEMOGRAPH_MODEL_DIR=<a Model2Vec model directory> \
    for another one (or embedder/model_dir in the config file), or MNEMOGRAPH_EMBEDDER=openai \
    with MNEMOGRAPH_EMBED_URL and MNEMOGRAPH_EMBED_MODEL";

#[derive(Debug, Args)]
pub struct ReembedArgs {
    /// Re-embed every memory, also those that already have a vector of the configured model
    #[arg(long)]
    force: bool,
    /// Memories per call to the embedder
    #[arg(long, value_name = "N", default_value_t = DEFAULT_REEMBED_BATCH,
          value_parser = batch_size)]
    batch: usize,
}

fn batch_size(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=4096).contains(&n) => Ok(n),
        _ => Err("expected a whole number from 1 to 4096".into()),
    }
}

/// Builds the configured embedder: `Ok(None)` when none is configured.
pub async fn configured_embedder(ctx: &Ctx) -> Result<Option<Arc<dyn Embedder>>, EmbedError> {
    ctx.config.embedder.value.build().await
}

/// The configured store with the configured embedder when it can serve it: missing, failing or
/// of another model than the store's vectors, the embedder is reported as unavailable (with
/// why and what to do) and the store searches by keyword.
pub async fn embedded_store(ctx: &Ctx) -> CliResult<MemoryStore> {
    let app = ctx.app().await?;
    app.load_embedder().await;
    Ok(app.store().clone())
}

/// A bar on stderr when it is a terminal; hidden otherwise.
fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} embedding {pos}/{len} {wide_bar} {eta}")
    {
        bar.set_style(style);
    }
    bar
}

pub async fn reembed(ctx: &Ctx, a: ReembedArgs) -> CliResult {
    let store = ctx.store().await?;
    let spec = &ctx.config.embedder.value;
    let embedder = match configured_embedder(ctx).await {
        Ok(Some(embedder)) => embedder,
        Ok(None) => {
            return Err(CliError::Usage(format!(
                "reembed needs an embedder, and none is configured (embedder none, from {}); \
                 {CONFIGURE_EMBEDDER}",
                ctx.config.embedder.source
            )));
        }
        Err(err) => {
            return Err(CliError::Failed(format!(
                "cannot re-embed: the {} embedder is unavailable: {err}",
                spec.provider()
            )));
        }
    };
    // The configured embedder may belong to another model than the store's vectors: making
    // it the store's is what reembed is for, so it is set without the usual check.
    store.embedder().set_ready(embedder);
    let bar = progress_bar();
    let report = store
        .reembed(
            ReembedOptions {
                force: a.force,
                batch: a.batch,
            },
            |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            },
        )
        .await;
    bar.finish_and_clear();
    let report = report?;
    ctx.out.print(&report, |out| summary(out, &report))
}

fn summary(out: &crate::cli::Output, r: &ReembedReport) -> String {
    let mut text = String::new();
    if let (Some(old), Some(old_dim)) = (&r.previous_model, r.previous_dimension) {
        text.push_str(&format!(
            "{} embedding model {old} ({old_dim} dimensions) → {} ({} dimensions)\n",
            out.paint(Style::Green, "switched"),
            r.model,
            r.dimension
        ));
    }
    if r.total == 0 && r.failed == 0 {
        text.push_str(&format!(
            "nothing to do: every memory has a vector of {}",
            r.model
        ));
        return text;
    }
    text.push_str(&format!(
        "embedded {} of {} memories with {}",
        r.embedded, r.total, r.model
    ));
    if r.skipped > 0 {
        text.push_str(&format!(
            "; {} left alone (already embedded, or changed meanwhile)",
            r.skipped
        ));
    }
    if r.failed > 0 {
        text.push_str(&format!(
            "; {}",
            out.paint(
                Style::Yellow,
                &format!(
                    "{} rejected by the embedder (found by keyword only)",
                    r.failed
                )
            )
        ));
    }
    text
}

/// `doctor`'s view of embeddings: the store's vectors against the configured embedder, saying
/// to run `memctl reembed` when they differ or memories lack vectors. Also points the
/// integrity check of vectors of another model at `memctl reembed`.
pub async fn doctor_checks(
    ctx: &Ctx,
    meta: &StoreMeta,
    stats: &Stats,
    checks: &mut Vec<IntegrityCheck>,
) {
    for c in checks.iter_mut() {
        if c.name == "vector model" && !c.ok {
            c.detail
                .push_str(" (left from a model switch); run `memctl reembed` to replace them");
        }
    }
    let recorded = meta.embedding_model.clone().zip(meta.embedding_dim);
    let vectors = match &recorded {
        Some((model, _)) => format!(
            "{} of {} memories have vectors of {model}",
            stats.embedded, stats.memories
        ),
        None => "no vectors stored".to_owned(),
    };
    let provider = ctx.config.embedder.value.provider();
    let (ok, detail) = match configured_embedder(ctx).await {
        Ok(None) => (
            true,
            format!("{vectors}; no embedder is configured, so search is keyword only"),
        ),
        Err(err) => (
            true,
            format!(
                "{vectors}; the {provider} embedder is unavailable, so search is keyword \
                 only: {err}"
            ),
        ),
        Ok(Some(embedder)) => {
            let (model, dim) = (embedder.model_id(), embedder.dimension());
            let missing = stats.memories.saturating_sub(stats.embedded);
            match &recorded {
                Some((stored, stored_dim)) if (stored.as_str(), *stored_dim) != (model, dim) => (
                    false,
                    format!(
                        "the store's vectors come from {stored} ({stored_dim} dimensions) but \
                         the configured embedder is {model} ({dim} dimensions), so search by \
                         meaning is off; run `memctl reembed` to switch the store to {model}"
                    ),
                ),
                _ if missing > 0 => (
                    true,
                    format!(
                        "{vectors}; the configured embedder is {model}: run `memctl reembed` \
                         to embed the other {missing} now (a running server also embeds them \
                         in the background)"
                    ),
                ),
                _ => (
                    true,
                    format!("{vectors}; the configured embedder is {model}"),
                ),
            }
        }
    };
    checks.push(IntegrityCheck {
        name: "embeddings".into(),
        ok,
        detail,
    });
}
