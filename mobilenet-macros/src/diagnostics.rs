//! Errors the compiler reports about a spec: each names the file, the line and column, the row
//! when there is one, what disagrees, and (often) what to do about it.
//!
//! Every stage pushes into one [`Diagnostics`] collector so that a spec with five mistakes gives
//! five messages in one build, in file order.

use crate::yaml::Pos;
use std::fmt;
use std::rc::Rc;

/// A place in a spec file: the path as the user should read it, and the position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loc {
    /// The file's path as shown in messages (as written in the macro call, or relative to it).
    pub file: Rc<str>,
    /// Line and column.
    pub pos: Pos,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)
    }
}

/// One problem found in a spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where the problem is; `None` when it concerns no line (a missing file).
    pub loc: Option<Loc>,
    /// What is wrong, in one sentence.
    pub message: String,
    /// What the user can do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at `loc`.
    pub fn at(loc: &Loc, message: impl Into<String>) -> Self {
        Diagnostic {
            loc: Some(loc.clone()),
            message: message.into(),
            hint: None,
        }
    }

    /// A diagnostic that concerns no particular line.
    pub fn global(message: impl Into<String>) -> Self {
        Diagnostic {
            loc: None,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds what the user can do about it.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.loc {
            write!(f, "{loc}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  = help: {hint}")?;
        }
        Ok(())
    }
}

/// Collects every diagnostic of one compilation.
///
/// Dropping a collector that still holds diagnostics is a bug (they would be lost silently), so
/// the caller must take them with [`Diagnostics::into_result`]; a debug build checks this.
#[derive(Debug, Default)]
pub struct Diagnostics {
    list: Vec<Diagnostic>,
    taken: bool,
}

impl Diagnostics {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a diagnostic; an exact repeat (a row copied by `repeat`) is recorded once.
    pub fn push(&mut self, d: Diagnostic) {
        if !self.list.contains(&d) {
            self.list.push(d);
        }
    }

    /// Whether anything has been recorded.
    pub fn has_errors(&self) -> bool {
        !self.list.is_empty()
    }

    /// `Ok(value)` when nothing was recorded, otherwise every diagnostic in file order.
    pub fn into_result<T>(mut self, value: T) -> Result<T, Vec<Diagnostic>> {
        self.taken = true;
        let mut list = std::mem::take(&mut self.list);
        if list.is_empty() {
            return Ok(value);
        }
        // Stable sort: diagnostics without a line (missing file) first, then by file position,
        // keeping the order stages reported in for the same line.
        list.sort_by(|a, b| {
            let key = |d: &Diagnostic| d.loc.as_ref().map(|l| (l.file.clone(), l.pos));
            key(a).cmp(&key(b))
        });
        Err(list)
    }
}

impl Drop for Diagnostics {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            debug_assert!(
                self.taken || self.list.is_empty(),
                "diagnostics dropped without being reported: {:?}",
                self.list
            );
        }
    }
}

/// `{what} {value} is above the limit of {limit}`, at `loc`, with the README's section as hint.
pub fn over_limit(loc: &Loc, what: &str, value: impl std::fmt::Display, limit: impl std::fmt::Display) -> Diagnostic {
    beyond_limit(loc, format!("{what} {value} is above the limit of {limit}"))
}

/// A limit's diagnostic with its own wording, at `loc`.
pub fn beyond_limit(loc: &Loc, message: String) -> Diagnostic {
    Diagnostic::at(loc, message)
        .hint("mobilenet! bounds every size so that a typo cannot exhaust the compiler (README, \"Reliability\")")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(line: usize) -> Loc {
        Loc {
            file: "specs/x.yaml".into(),
            pos: Pos { line, col: 3 },
        }
    }

    #[test]
    fn renders_file_line_column_and_hint() {
        let d = Diagnostic::at(&loc(41), "row 17 is wrong").hint("use stride 1");
        assert_eq!(
            d.to_string(),
            "specs/x.yaml:41:3: row 17 is wrong\n  = help: use stride 1"
        );
    }

    #[test]
    fn repeats_are_collapsed_and_sorted() {
        let mut ds = Diagnostics::new();
        ds.push(Diagnostic::at(&loc(9), "b"));
        ds.push(Diagnostic::at(&loc(2), "a"));
        ds.push(Diagnostic::at(&loc(9), "b"));
        let list = ds.into_result(()).unwrap_err();
        let lines: Vec<_> = list.iter().map(|d| d.loc.as_ref().unwrap().pos.line).collect();
        assert_eq!(lines, vec![2, 9]);
    }

    #[test]
    fn empty_collector_is_ok() {
        assert_eq!(Diagnostics::new().into_result(5), Ok(5));
    }
}
