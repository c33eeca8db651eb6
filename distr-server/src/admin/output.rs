//! Where admin commands print: text lines, or one JSON value, on stdout;
//! notes for people on stderr.

use std::io::Write;

use serde_json::Value;

/// The admin CLI's output streams and format.
pub struct Output<'a> {
    json: bool,
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
}

impl<'a> Output<'a> {
    /// Prints to `out` (results) and `err` (notes); JSON when `json`.
    pub fn new(json: bool, out: &'a mut dyn Write, err: &'a mut dyn Write) -> Self {
        Self { json, out, err }
    }

    /// True when results are printed as JSON.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// A result: `text` (one or more lines), or `json` as one pretty JSON value.
    pub fn result(
        &mut self,
        text: impl FnOnce() -> String,
        json: impl FnOnce() -> Value,
    ) -> anyhow::Result<()> {
        if self.json {
            serde_json::to_writer_pretty(&mut *self.out, &json())?;
            writeln!(self.out)?;
        } else {
            let text = text();
            if !text.is_empty() {
                writeln!(self.out, "{}", text.trim_end_matches('\n'))?;
            }
        }
        self.out.flush()?;
        Ok(())
    }

    /// A list: one line per item, or a JSON array; `empty` goes to stderr
    /// (in text mode) when there is nothing to list.
    pub fn list<T>(
        &mut self,
        items: &[T],
        empty: &str,
        line: impl Fn(&T) -> String,
        json: impl Fn(&T) -> Value,
    ) -> anyhow::Result<()> {
        if !self.json && items.is_empty() {
            return self.note(empty);
        }
        self.result(
            || items.iter().map(&line).collect::<Vec<_>>().join("\n"),
            || Value::Array(items.iter().map(&json).collect()),
        )
    }

    /// A note for people (stderr), never part of the result.
    pub fn note(&mut self, text: &str) -> anyhow::Result<()> {
        writeln!(self.err, "{text}")?;
        self.err.flush()?;
        Ok(())
    }
}
