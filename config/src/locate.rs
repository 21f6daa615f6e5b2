//! From a byte span in the config text to what a person needs to find it: a
//! line, a column and a dotted key.
//!
//! toml reports every error with a byte span but not with the key it belongs
//! to, so the key is recovered here from the spanned document tree: the entry
//! whose key or value is the tightest fit around the span. This works the same
//! for `[table]` headers, dotted keys and inline tables, which a look at "the
//! header above and the key on this line" would not.

use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::ConfigError;

/// The config text, where it came from, and its spanned tree (complete, or as
/// far as toml could recover it after a syntax error).
pub(crate) struct Document<'a> {
    text: &'a str,
    origin: &'a Path,
    root: &'a Spanned<DeTable<'a>>,
}

impl<'a> Document<'a> {
    pub(crate) fn new(text: &'a str, origin: &'a Path, root: &'a Spanned<DeTable<'a>>) -> Self {
        Document { text, origin, root }
    }

    /// An error that toml located by span (syntax errors and everything raised
    /// while deserializing).
    pub(crate) fn error_at_span(&self, span: Option<Range<usize>>, message: &str) -> ConfigError {
        // A span-less error is one about the document as a whole.
        let span = span.unwrap_or(0..0);
        let mut path = Vec::new();
        let mut best = None;
        tightest_entry(self.root.get_ref(), &span, &mut path, &mut best);
        let mut key = best.map(|(path, _)| path);
        // serde raises "missing field" on the table that lacks it, so the span
        // is the table's; the field itself is only in the message.
        if let Some(field) = missing_field(message) {
            key.get_or_insert_with(Vec::new).push(field.to_owned());
        }
        self.error(span.start, key.as_deref(), message)
    }

    /// An error found after deserializing, about the key at `path`; it points
    /// at that key (for a `[table]`, at its header).
    pub(crate) fn error_at_key(&self, path: &[&str], message: &str) -> ConfigError {
        let mut table = self.root.get_ref();
        let mut offset = 0;
        for (depth, name) in path.iter().enumerate() {
            let Some((key, value)) = table.get_key_value(*name) else {
                break;
            };
            offset = key.span().start;
            match value.get_ref() {
                DeValue::Table(inner) if depth + 1 < path.len() => table = inner,
                _ => break,
            }
        }
        let path: Vec<String> = path.iter().map(|name| (*name).to_owned()).collect();
        self.error(offset, Some(&path), message)
    }

    fn error(&self, offset: usize, key: Option<&[String]>, message: &str) -> ConfigError {
        let (line, column) = line_column(self.text, offset);
        ConfigError::Invalid {
            file: self.origin.to_path_buf(),
            line,
            column,
            key: key.map(dotted),
            message: message.to_owned(),
        }
    }
}

/// Depth-first search for the smallest key or value span that holds `span`;
/// `best` keeps that entry's path and size. Ties go to the deeper entry,
/// because a dotted key's intermediate tables share the span of their key.
fn tightest_entry(
    table: &DeTable<'_>,
    span: &Range<usize>,
    path: &mut Vec<String>,
    best: &mut Option<(Vec<String>, usize)>,
) {
    for (key, value) in table.iter() {
        path.push(key.get_ref().to_string());
        for candidate in [key.span(), value.span()] {
            // Inclusive end: an empty span right after a value (an unclosed
            // string, a missing value) still belongs to it.
            let holds = candidate.start <= span.start && span.end <= candidate.end;
            let size = candidate.end - candidate.start;
            if holds
                && best
                    .as_ref()
                    .is_none_or(|(_, best_size)| size <= *best_size)
            {
                *best = Some((path.clone(), size));
            }
        }
        if let DeValue::Table(inner) = value.get_ref() {
            tightest_entry(inner, span, path, best);
        }
        path.pop();
    }
}

/// The field name in serde's "missing field `name`" message.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// Joins a key path the way it would be written in TOML, quoting the parts
/// that are not bare keys so that `fields."a.b".unit` stays readable.
fn dotted(path: &[String]) -> String {
    let bare = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    path.iter()
        .map(|part| {
            if bare(part) {
                part.clone()
            } else {
                format!("{part:?}")
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// 1-based line and column (in characters, as an editor counts) of a byte
/// offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_not_bytes() {
        let text = "a = \"é\"\nb = \"ü\" x";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, text.find('b').unwrap_or(0)), (2, 1));
        assert_eq!(line_column(text, text.find('x').unwrap_or(0)), (2, 9));
        assert_eq!(line_column(text, text.len() + 10), (2, 10));
    }

    #[test]
    fn keys_that_are_not_bare_are_quoted() {
        let path = ["fields", "a.b", "unit"].map(String::from);
        assert_eq!(dotted(&path), r#"fields."a.b".unit"#);
        let path = ["fields", "hum_%"].map(String::from);
        assert_eq!(dotted(&path), r#"fields."hum_%""#);
    }
}
