//! Collects cells into a [`Table`] while enforcing [`Limits`]; the CSV and ODS readers both feed it, so they
//! number rows and columns, trim cells and drop empty trailing rows and columns the same way. It must never
//! materialise empty rows or cells that no content follows: a hostile repeat count or a file of separators
//! would otherwise fill memory before any limit is reached.

use crate::{Limits, Table, TabularError};

/// The most cell text (in bytes, across the whole table) repeated rows and cells may expand to.
pub(crate) const MAX_TABLE_TEXT: usize = 64 * 1024 * 1024;

pub(crate) struct TableBuilder<'a> {
    limits: &'a Limits,
    header: Option<Vec<String>>,
    rows: Vec<Vec<String>>,
    /// Empty rows seen since the last row with content; kept only as a count.
    pending_rows: u64,
    /// Spreadsheet number of the row being built (1 = header).
    row: u64,
    cur: Vec<String>,
    /// Empty cells seen since the last cell with content in the current row.
    pending_cells: u64,
    width: usize,
    text_bytes: usize,
    hidden: Vec<usize>,
}

impl<'a> TableBuilder<'a> {
    pub(crate) fn new(limits: &'a Limits) -> Self {
        Self {
            limits,
            header: None,
            rows: Vec::new(),
            pending_rows: 0,
            row: 1,
            cur: Vec::new(),
            pending_cells: 0,
            width: 0,
            text_bytes: 0,
            hidden: Vec::new(),
        }
    }

    /// The spreadsheet row number (1 = header) of the row being built.
    pub(crate) fn row_number(&self) -> u64 {
        self.row
    }

    /// The spreadsheet column number (1 = A) the next cell will get.
    pub(crate) fn column_number(&self) -> usize {
        let next = (self.cur.len() as u64).saturating_add(self.pending_cells).saturating_add(1);
        usize::try_from(next).unwrap_or(usize::MAX)
    }

    fn add_text(&mut self, bytes: u64) -> Result<(), TabularError> {
        let total = (self.text_bytes as u64).saturating_add(bytes);
        if total > MAX_TABLE_TEXT as u64 {
            return Err(TabularError::TableTooLarge { max_bytes: MAX_TABLE_TEXT });
        }
        self.text_bytes = usize::try_from(total).unwrap_or(usize::MAX);
        Ok(())
    }

    /// Adds `repeat` copies of a cell (trimmed) to the current row.
    pub(crate) fn cell(&mut self, raw: &str, repeat: u64) -> Result<(), TabularError> {
        let text = raw.trim();
        let repeat = repeat.max(1);
        if text.is_empty() {
            self.pending_cells = self.pending_cells.saturating_add(repeat);
            return Ok(());
        }
        if text.chars().count() > self.limits.max_cell_chars {
            return Err(TabularError::CellTooLong {
                row: self.row,
                column: self.column_number(),
                max: self.limits.max_cell_chars,
            });
        }
        let start = (self.cur.len() as u64).saturating_add(self.pending_cells);
        if start.saturating_add(repeat) > self.limits.max_cols as u64 {
            return Err(TabularError::TooManyColumns { row: self.row, max: self.limits.max_cols });
        }
        self.add_text((text.len() as u64).saturating_mul(repeat))?;
        // Both fit in usize: they are at most max_cols.
        let start = usize::try_from(start).unwrap_or(usize::MAX);
        let repeat = usize::try_from(repeat).unwrap_or(usize::MAX);
        self.cur.resize(start, String::new());
        self.cur.extend(std::iter::repeat_n(text.to_owned(), repeat));
        self.pending_cells = 0;
        Ok(())
    }

    /// Ends the current row, which stands for `repeat` identical rows.
    pub(crate) fn end_row(&mut self, repeat: u64) -> Result<(), TabularError> {
        self.end_row_shown(repeat, true)
    }

    /// As [`TableBuilder::end_row`], for a row the spreadsheet may hide (`shown` false).
    pub(crate) fn end_row_shown(&mut self, repeat: u64, shown: bool) -> Result<(), TabularError> {
        let repeat = repeat.max(1);
        let cells = std::mem::take(&mut self.cur);
        self.pending_cells = 0;
        if cells.is_empty() {
            self.pending_rows = self.pending_rows.saturating_add(repeat);
            self.row = self.row.saturating_add(repeat);
            return Ok(());
        }
        let data_copies = if self.header.is_none() {
            if self.pending_rows > 0 {
                return Err(TabularError::EmptyHeader);
            }
            repeat - 1
        } else {
            repeat
        };
        let rows_after = (self.rows.len() as u64).saturating_add(self.pending_rows).saturating_add(data_copies);
        if rows_after > self.limits.max_rows as u64 {
            return Err(TabularError::TooManyRows { max: self.limits.max_rows });
        }
        let row_bytes: u64 = cells.iter().map(|c| c.len() as u64).sum();
        self.add_text(row_bytes.saturating_mul(repeat - 1))?;
        self.width = self.width.max(cells.len());
        // Both counts are bounded by max_rows, checked above.
        let pending = usize::try_from(self.pending_rows).unwrap_or(usize::MAX);
        let copies = usize::try_from(data_copies).unwrap_or(usize::MAX);
        self.rows.extend(std::iter::repeat_n(Vec::new(), pending));
        self.pending_rows = 0;
        if self.header.is_none() {
            if copies == 0 {
                self.header = Some(cells);
            } else {
                self.header = Some(cells.clone());
                self.rows.extend(std::iter::repeat_n(cells, copies));
            }
        } else {
            if !shown {
                self.hidden.extend(self.rows.len()..self.rows.len() + copies);
            }
            self.rows.extend(std::iter::repeat_n(cells, copies));
        }
        self.row = self.row.saturating_add(repeat);
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<Table, TabularError> {
        if !self.cur.is_empty() {
            self.end_row(1)?;
        }
        let Some(mut header) = self.header else {
            return Err(TabularError::Empty);
        };
        let width = self.width;
        header.resize(width, String::new());
        let mut rows = self.rows;
        for row in &mut rows {
            row.resize(width, String::new());
        }
        Ok(Table { header, rows, hidden: self.hidden })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits { max_rows: 5, max_cols: 3, max_cell_chars: 4, ..Limits::default() }
    }

    #[test]
    fn trims_pads_and_drops_trailing_empties() {
        let l = limits();
        let mut b = TableBuilder::new(&l);
        b.cell(" a ", 1).unwrap();
        b.cell("", 1000).unwrap();
        b.end_row(1).unwrap();
        b.cell("", 1).unwrap();
        b.cell("x", 1).unwrap();
        b.end_row(1).unwrap();
        b.end_row(3).unwrap();
        b.cell("y", 1).unwrap();
        b.end_row(1).unwrap();
        b.cell(" ", 5).unwrap();
        b.end_row(1_000_000_000).unwrap();
        let t = b.finish().unwrap();
        assert_eq!(t.header, vec!["a", ""]);
        assert_eq!(t.rows, vec![vec!["", "x"], vec!["", ""], vec!["", ""], vec!["", ""], vec!["y", ""]]);
    }

    #[test]
    fn repeats_count_against_limits() {
        let l = limits();
        let mut b = TableBuilder::new(&l);
        b.cell("h", 1).unwrap();
        b.end_row(1).unwrap();
        let err = b.cell("v", 4).unwrap_err();
        assert!(matches!(err, TabularError::TooManyColumns { row: 2, max: 3 }));

        let mut b = TableBuilder::new(&l);
        b.cell("h", 1).unwrap();
        assert!(matches!(b.end_row(7), Err(TabularError::TooManyRows { max: 5 })));
        let mut b = TableBuilder::new(&l);
        b.cell("h", 1).unwrap();
        b.end_row(6).unwrap(); // header + 5 rows: exactly the limit
        assert_eq!(b.finish().unwrap().rows.len(), 5);
        let mut b = TableBuilder::new(&l);
        b.cell("h", 1).unwrap();
        b.end_row(3).unwrap(); // header + 2 rows
        b.end_row(u64::MAX).unwrap(); // empty: only counted
        b.cell("v", 1).unwrap();
        assert!(matches!(b.end_row(1), Err(TabularError::TooManyRows { max: 5 })));
    }

    #[test]
    fn cell_length_is_counted_in_characters() {
        let l = limits();
        let mut b = TableBuilder::new(&l);
        b.cell("身分證號", 1).unwrap();
        b.cell("", 1).unwrap();
        let err = b.cell("身分證號碼", 1).unwrap_err();
        assert!(matches!(err, TabularError::CellTooLong { row: 1, column: 3, max: 4 }));
    }

    #[test]
    fn blank_first_row_or_nothing_is_refused() {
        let l = limits();
        let mut b = TableBuilder::new(&l);
        b.end_row(1).unwrap();
        b.cell("a", 1).unwrap();
        assert!(matches!(b.end_row(1), Err(TabularError::EmptyHeader)));
        let mut b = TableBuilder::new(&l);
        b.cell("  ", 3).unwrap();
        b.end_row(9).unwrap();
        assert!(matches!(b.finish(), Err(TabularError::Empty)));
    }
}
