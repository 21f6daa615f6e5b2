//! `GET /api/history`: stored readings in buckets, as JSON, CSV or NDJSON
//! (the contract is in the README's "History API").
//!
//! The parameters are parsed by [`crate::store::request`], the same code
//! `export` uses, and refused with a 400 that names the parameter. The query
//! runs on tokio's blocking pool with a read-only connection of its own, so
//! a long one never holds up the runtime, and never the writer (a WAL
//! reader).

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tracing::warn;

use super::AppState;
use super::router::{BadRequest, Body, Query, bad_request, plain, with_type};
use crate::store::query::{self, QueryError};
use crate::store::request::{self, Format, MAX_BUCKETS};
use crate::store::{now_ms, render, schema};

pub async fn answer(request: &Request<Incoming>, state: &AppState) -> Response<Body> {
    let Some(path) = state.history.clone() else {
        return plain(
            StatusCode::NOT_FOUND,
            "history is off ([history] enabled = false)\n",
        );
    };
    let query = Query::of(request);
    let request = match request::Request::parse(query.pairs(), now_ms(), Some(MAX_BUCKETS)) {
        Ok(request) => request,
        Err(bad) => return bad_request(BadRequest(format!("{bad}\n"))),
    };
    let answered = tokio::task::spawn_blocking(move || -> Result<_, QueryError> {
        let conn = schema::open_reader(&path)?;
        let fields = query::fields(&conn, &request)?;
        let answer = query::answer(&conn, &fields, request.buckets)?;
        Ok(match request.format {
            Format::Json => (render::json(&answer), "application/json"),
            Format::Csv => {
                let mut csv = render::csv_head(fields.iter().map(|field| field.name.as_str()));
                render::csv_rows(&answer, &mut csv);
                (csv, "text/csv; charset=utf-8")
            }
            Format::Ndjson => {
                let mut ndjson = String::new();
                render::ndjson_rows(&answer, &mut ndjson);
                (ndjson, "application/x-ndjson")
            }
        })
    })
    .await;
    let failed = match answered {
        Ok(Ok((body, content_type))) => return with_type(body, content_type),
        Ok(Err(QueryError::Bad(bad))) => return bad_request(BadRequest(format!("{bad}\n"))),
        Ok(Err(error)) => error.to_string(),
        Err(error) => error.to_string(),
    };
    warn!("cannot answer /api/history: {failed}");
    plain(
        StatusCode::INTERNAL_SERVER_ERROR,
        "cannot read the history store\n",
    )
}
