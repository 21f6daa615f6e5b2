//! `esplora-bridge export`: the history store's buckets as CSV or NDJSON,
//! to stdout or a file, with the parameters and the bytes of
//! `/api/history` (the same [`request`](crate::store::request) parsing and
//! [`render`](crate::store::render) functions), but no bucket bound: a long
//! export is read and written a slice of [`SLICE`] buckets at a time, with
//! a progress bar on a terminal.
//!
//! It opens the store read-only, as a reader of its WAL, so it works while
//! the daemon writes.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::Path;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::store::bucket::Buckets;
use crate::store::request::{BadParam, Format, Request};
use crate::store::{now_ms, query, render, schema};

/// Buckets read and written at once.
const SLICE: usize = 10_000;

/// The export's parameters, as given on the command line (the text of
/// `/api/history`'s query parameters).
#[derive(Debug, Default)]
pub struct Params<'a> {
    pub fields: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub step: Option<&'a str>,
    pub format: Option<&'a str>,
}

pub fn run(store: &Path, params: &Params<'_>, output: Option<&Path>) -> anyhow::Result<()> {
    let pairs = [
        ("fields", params.fields),
        ("from", params.from),
        ("to", params.to),
        ("step", params.step),
        ("format", Some(params.format.unwrap_or("csv"))),
    ];
    let request = Request::parse(
        pairs
            .iter()
            .filter_map(|(name, value)| Some((*name, (*value)?))),
        now_ms(),
        None,
    )?;
    if request.format == Format::Json {
        Err(BadParam::new("format", "export writes csv or ndjson"))?;
    }
    let conn = schema::open_reader(store)?;
    let fields = query::fields(&conn, &request)?;
    let mut out: Box<dyn Write> = match output {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let all = request.buckets;
    let progress = if all.count > SLICE && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(all.count as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} buckets, {eta} left")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut text = String::new();
    if request.format == Format::Csv {
        text = render::csv_head(fields.iter().map(|field| field.name.as_str()));
    }
    let mut done = 0;
    while done < all.count {
        let slice = Buckets {
            start: all.start + done as i64 * all.step,
            step: all.step,
            count: SLICE.min(all.count - done),
        };
        let answer = query::answer(&conn, &fields, slice)?;
        match request.format {
            Format::Csv => render::csv_rows(&answer, &mut text),
            _ => render::ndjson_rows(&answer, &mut text),
        }
        out.write_all(text.as_bytes())
            .context("cannot write the export")?;
        text.clear();
        done += slice.count;
        progress.set_position(done as u64);
    }
    out.flush().context("cannot write the export")?;
    progress.finish_and_clear();
    Ok(())
}
