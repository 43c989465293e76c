//! A row's doc, said for one language: references resolved, the
//! language's notes on its arguments appended, wrapped for `///` comments.

use crate::model::{Setter, Ty};

/// The language a doc is rendered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// The C API (and so `include/sandbox.h`).
    C,
    /// The Python module.
    Py,
}

/// The width of a doc line, without the `/// ` prefix and indentation.
const WIDTH: usize = 76;

/// The doc of `s` in `lang`, as lines (paragraphs separated by "").
pub fn lines(s: &Setter, lang: Lang) -> Vec<String> {
    let mut paragraphs = vec![resolve(s, lang)];
    paragraphs.extend(notes(s, lang));
    let mut out = Vec::new();
    for (i, p) in paragraphs.iter().enumerate() {
        if i > 0 {
            out.push(String::new());
        }
        out.extend(wrap(p));
    }
    out
}

/// Resolve `{{c|py}}`, `` `@setter` `` and `$arg` in the row's doc.
fn resolve(s: &Setter, lang: Lang) -> String {
    let text = choose(s.doc, lang);
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find(['@', '$']) {
        out.push_str(&rest[..i]);
        let sigil = rest.as_bytes()[i];
        let tail = &rest[i + 1..];
        let len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..len];
        match sigil {
            _ if name.is_empty() => out.push(char::from(sigil)),
            b'@' if lang == Lang::C => out.push_str(&format!("sandbox_{name}")),
            b'@' => out.push_str(name),
            _ => out.push_str(arg_name(s, name, lang)),
        }
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// The language's name of the argument `name` (its Python name) of `s`.
fn arg_name(s: &Setter, name: &str, lang: Lang) -> &'static str {
    let a = s
        .args
        .iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("{}: the doc names no argument ${name}", s.name));
    match lang {
        Lang::C => a.c_name(),
        Lang::Py => a.name,
    }
}

/// Keep the C or the Python half of every `{{c|py}}`.
fn choose(doc: &str, lang: Lang) -> String {
    let mut out = String::new();
    let mut rest = doc;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let inner = &rest[start + 2..];
        let end = inner.find("}}").expect("an unclosed {{ in a doc");
        let (c, py) = inner[..end].split_once('|').expect("{{c|py}} without |");
        out.push_str(if lang == Lang::C { c } else { py });
        rest = &inner[end + 2..];
    }
    out.push_str(rest);
    out
}

/// What the language's caller must know of the arguments' kinds.
fn notes(s: &Setter, lang: Lang) -> Vec<String> {
    let names = |pred: fn(Ty) -> bool| -> Vec<String> {
        s.args
            .iter()
            .filter(|a| pred(a.ty))
            .map(|a| match lang {
                Lang::C => format!("`{}`", a.c_name()),
                Lang::Py => format!("`{}`", a.name),
            })
            .collect()
    };
    let mut out = Vec::new();
    match lang {
        Lang::C => {
            let paths = names(|t| matches!(t, Ty::Path | Ty::PathOr(_)));
            match paths.len() {
                0 => {}
                1 => out.push(format!(
                    "{}: a NUL-terminated path (any bytes), copied.",
                    paths[0]
                )),
                _ => out.push(format!(
                    "{}: NUL-terminated paths (any bytes), copied.",
                    paths.join(", ")
                )),
            }
            let texts = names(|t| t == Ty::Text);
            if !texts.is_empty() {
                out.push(format!(
                    "{}: NUL-terminated UTF-8 text, copied.",
                    texts.join(", ")
                ));
            }
            for a in s.args {
                match a.ty {
                    Ty::Millis => out.push(format!("`{}`: in milliseconds.", a.c_name())),
                    Ty::Bytes => out.push(format!(
                        "`{}`: `len` bytes, copied (NULL allowed when `len` is 0).",
                        a.c_name()
                    )),
                    Ty::U32List => out.push(format!(
                        "`{}`: `n` values, copied (NULL allowed when `n` is 0).",
                        a.c_name()
                    )),
                    _ => {}
                }
            }
        }
        Lang::Py => {
            for a in s.args {
                match a.ty {
                    Ty::PathOr(d) => out.push(format!("`{}` defaults to `{d}`.", a.name)),
                    Ty::Millis => out.push(format!(
                        "`{}`: a number of seconds or a `datetime.timedelta`.",
                        a.name
                    )),
                    Ty::Bytes => {
                        out.push(format!("`{}`: `bytes`, or `str` written as UTF-8.", a.name))
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// Greedy word wrap at [`WIDTH`].
fn wrap(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > WIDTH {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{arg, row};

    #[test]
    fn references_are_said_per_language() {
        const ARGS: &[crate::Arg] = &[arg("seconds", Ty::Count).c("secs")];
        let s = row("x", ARGS, "See `@uts_ns`; `$seconds` {{in C|in Python}}.");
        assert_eq!(resolve(&s, Lang::C), "See `sandbox_uts_ns`; `secs` in C.");
        assert_eq!(resolve(&s, Lang::Py), "See `uts_ns`; `seconds` in Python.");
    }

    #[test]
    fn long_paragraphs_wrap() {
        let text = "word ".repeat(40);
        let lines = wrap(&text);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.len() <= WIDTH));
        assert_eq!(lines.join(" "), text.trim_end());
    }
}
