//! A YAML document as a tree whose every node knows its line and column.
//!
//! `serde_yaml` (frozen at 0.9.34) deserialises into values that have forgotten where they came
//! from, so it cannot say which line of a spec a bad row is on. `yaml-rust2`'s event parser
//! reports a position with every event; this module folds those events into a small tree.

use std::fmt;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column in a spec file.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

impl From<Marker> for Pos {
    fn from(m: Marker) -> Self {
        Pos {
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

/// One node of the document.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Where the node starts.
    pub pos: Pos,
    /// What it holds.
    pub value: Value,
}

/// The three shapes a YAML node can take.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A plain or quoted scalar; `quoted` keeps `"1"` from being read as a number.
    Scalar { text: String, quoted: bool },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping with its keys in file order (keys are scalars with positions).
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The scalar's text, if the node is an unquoted or quoted scalar.
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// A short description of what the node is, for "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match &self.value {
            Value::Scalar { text, .. } if text.is_empty() || text == "~" || text == "null" => "nothing".to_string(),
            Value::Scalar { text, .. } => format!("`{text}`"),
            Value::Seq(items) => format!("a list of {}", items.len()),
            Value::Map(_) => "a mapping".to_string(),
        }
    }
}

/// A YAML syntax error with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub pos: Pos,
    /// The parser's own words.
    pub message: String,
}

/// Parses one YAML document into a [`Node`] tree; an empty document is an empty mapping.
pub fn parse(source: &str) -> Result<Node, SyntaxError> {
    let end = end_of(source);
    let mut builder = Builder {
        end,
        ..Builder::default()
    };
    let mut parser = Parser::new_from_str(source);
    if let Err(e) = parser.load(&mut builder, false) {
        let m = e.marker();
        return Err(SyntaxError {
            pos: within(Pos::from(*m), end),
            message: e.info().to_string(),
        });
    }
    if let Some(error) = builder.error {
        return Err(error);
    }
    Ok(builder.root.unwrap_or(Node {
        pos: Pos { line: 1, col: 1 },
        value: Value::Map(Vec::new()),
    }))
}

/// Where the text ends: its last line (the one after a final newline counts, empty) and the
/// column just past that line's end.
fn end_of(source: &str) -> Pos {
    Pos {
        line: source.split('\n').count(),
        col: source.rsplit('\n').next().map_or(0, str::len) + 1,
    }
}

/// At the end of a file without a final newline the parser marks the line after the last;
/// a message must name a line the file has, so such a mark moves to the file's end.
fn within(pos: Pos, end: Pos) -> Pos {
    if pos.line > end.line {
        end
    } else {
        pos
    }
}

/// Containers under construction while events stream in.
enum Open {
    Seq(Pos, Vec<Node>),
    Map(Pos, Vec<(Node, Node)>, Option<Node>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    root: Option<Node>,
    error: Option<SyntaxError>,
    /// Containers open beyond `MAX_NESTING`, skipped: a tree that deep would make the
    /// recursive walks (and the tree's own drop) overflow the stack.
    too_deep: usize,
    /// The text's end (see [`within`]).
    end: Pos,
}

impl Builder {
    fn push_node(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Open::Seq(_, items)) => items.push(node),
            Some(Open::Map(_, entries, key)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = within(Pos::from(mark), self.end);
        let opens = matches!(ev, Event::SequenceStart(..) | Event::MappingStart(..));
        let closes = matches!(ev, Event::SequenceEnd | Event::MappingEnd);
        if self.too_deep > 0 || (opens && self.stack.len() >= crate::limits::MAX_NESTING) {
            if opens {
                self.too_deep += 1;
                if self.error.is_none() {
                    self.error = Some(SyntaxError {
                        pos,
                        message: format!(
                            "lists and mappings nest deeper than {} levels (the limit for a spec)",
                            crate::limits::MAX_NESTING
                        ),
                    });
                }
            } else if closes {
                self.too_deep -= 1;
            }
            return;
        }
        match ev {
            Event::Scalar(text, style, _, _) => {
                let quoted = !matches!(style, TScalarStyle::Plain);
                self.push_node(Node {
                    pos,
                    value: Value::Scalar {
                        text: text.to_string(),
                        quoted,
                    },
                });
            }
            Event::SequenceStart(..) => self.stack.push(Open::Seq(pos, Vec::new())),
            Event::MappingStart(..) => self.stack.push(Open::Map(pos, Vec::new(), None)),
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Open::Seq(p, items)) => Node {
                        pos: p,
                        value: Value::Seq(items),
                    },
                    Some(Open::Map(p, entries, _)) => Node {
                        pos: p,
                        value: Value::Map(entries),
                    },
                    None => return,
                };
                self.push_node(node);
            }
            Event::Alias(_) => {
                // Anchors would let one row stand for another with a position elsewhere; a
                // layer table has no need for them, so refuse rather than guess.
                if self.error.is_none() {
                    self.error = Some(SyntaxError {
                        pos,
                        message: "YAML aliases (*name) are not supported in specs".to_string(),
                    });
                }
                self.push_node(Node {
                    pos,
                    value: Value::Scalar {
                        text: String::new(),
                        quoted: false,
                    },
                });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let root = parse("a: 1\nlayers:\n  - { type: conv, stride: 2 }\n").unwrap();
        let Value::Map(entries) = &root.value else {
            panic!("not a map")
        };
        assert_eq!(entries[0].0.pos, Pos { line: 1, col: 1 });
        let Value::Seq(rows) = &entries[1].1.value else {
            panic!("not a seq")
        };
        assert_eq!(rows[0].pos.line, 3);
        assert_eq!(rows[0].pos.col, 5);
    }

    #[test]
    fn quoted_scalars_are_marked() {
        let root = parse("a: \"1\"\nb: 1\n").unwrap();
        let Value::Map(entries) = &root.value else {
            panic!("not a map")
        };
        assert!(matches!(entries[0].1.value, Value::Scalar { quoted: true, .. }));
        assert!(matches!(entries[1].1.value, Value::Scalar { quoted: false, .. }));
    }

    #[test]
    fn syntax_errors_carry_line() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.pos.line >= 2, "{err:?}");
        assert!(!err.message.is_empty());
    }

    #[test]
    fn empty_document_is_empty_map() {
        assert_eq!(parse("").unwrap().value, Value::Map(Vec::new()));
    }

    #[test]
    fn an_error_at_the_end_names_the_last_line() {
        for text in ["a: 1\nb: [1, 2", "a: 1\nb: {", "a: 1\n- 2"] {
            let err = parse(text).unwrap_err();
            let lines: Vec<&str> = text.split('\n').collect();
            assert!(err.pos.line <= lines.len(), "{text:?}: {err:?}");
            assert!(err.pos.col <= lines[err.pos.line - 1].len() + 1, "{text:?}: {err:?}");
        }
    }

    #[test]
    fn nesting_past_the_limit_is_an_error() {
        let ok = format!("a: {}{}", "[".repeat(60), "]".repeat(60));
        assert!(parse(&ok).is_ok());
        let deep = format!("a: {}{}", "[".repeat(100), "]".repeat(100));
        let err = parse(&deep).unwrap_err();
        assert!(err.message.contains("deeper than 64 levels"), "{err:?}");
        assert_eq!(err.pos.line, 1);
    }

    #[test]
    fn aliases_are_refused() {
        let err = parse("a: &x 1\nb: *x\n").unwrap_err();
        assert_eq!(err.pos.line, 2);
    }
}
