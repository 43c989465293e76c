//! What a row of the table is made of: a setter's name, its arguments with
//! their kinds, and one doc text for every language.
//!
//! A kind ([`Ty`]) fixes how each binding takes the value and turns it into
//! the core's: the renderers know every kind, so a row never carries code.

/// The kind of one argument, as each binding takes it.
///
/// | kind | C | Python | .pyi |
/// |---|---|---|---|
/// | `Flag` | `bool` | `bool`, default `True` | `bool = True` |
/// | `Path` | `const char *`, any bytes | `str`/`bytes`/`os.PathLike` | `_StrPath` |
/// | `PathOr(d)` | as `Path` | as `Path`, optional, default `d` | `_StrPath \| None = None` |
/// | `Text` | `const char *`, UTF-8 | `str` | `str` |
/// | `U16`, `U32`, `I32` | the same | `int` | `int` |
/// | `Fd` | `int` | `int` | `int` |
/// | `F64` | `double` | `float` | `float` |
/// | `Count` | `uint64_t` | `int`; negative is a `ConfigError` naming the setter | `int` |
/// | `Millis` | `uint64_t` milliseconds | seconds: `int`, `float` or `timedelta`, checked by the core | `_Seconds` |
/// | `Bytes` | `const uint8_t *` + `size_t len` | `bytes`, or `str` as UTF-8 | `bytes \| str` |
/// | `U32List` | `const uint32_t *` + `size_t n` | a sequence of `int` | `Sequence[int]` |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// On or off.
    Flag,
    /// A host or box path: any bytes but NUL.
    Path,
    /// A path Python may leave out, defaulting to the given one.
    PathOr(&'static str),
    /// UTF-8 text.
    Text,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `i32`.
    I32,
    /// A file descriptor of the caller.
    Fd,
    /// `f64`.
    F64,
    /// A `u64` quantity (bytes, processes, seconds).
    Count,
    /// A `Duration`: milliseconds in C, seconds in Python.
    Millis,
    /// A byte buffer.
    Bytes,
    /// A list of `u32`.
    U32List,
}

/// One argument of a setter.
#[derive(Debug, Clone, Copy)]
pub struct Arg {
    /// The name in Python (a keyword there, so it is part of the API) and,
    /// unless [`Arg::c`] says otherwise, in C.
    pub name: &'static str,
    /// How the value is taken.
    pub ty: Ty,
    /// The C parameter's name when it differs (`timeout_ms`).
    pub c_name: Option<&'static str>,
    /// A Python default value (Python source), e.g. `"1"`.
    pub py_default: Option<&'static str>,
}

/// An argument named `name` of kind `ty`.
pub const fn arg(name: &'static str, ty: Ty) -> Arg {
    Arg {
        name,
        ty,
        c_name: None,
        py_default: None,
    }
}

impl Arg {
    /// Name the C parameter `name` instead.
    pub const fn c(self, name: &'static str) -> Arg {
        Arg {
            c_name: Some(name),
            ..self
        }
    }

    /// Give the Python argument a default (Python source).
    pub const fn py_default(self, value: &'static str) -> Arg {
        Arg {
            py_default: Some(value),
            ..self
        }
    }

    /// The C parameter's name.
    pub fn c_name(&self) -> &'static str {
        self.c_name.unwrap_or(self.name)
    }
}

/// One mechanical setter: `sandbox_<name>` in C, `Sandbox.<name>` in
/// Python, both calling the core's `Sandbox::<name>`.
#[derive(Debug, Clone, Copy)]
pub struct Setter {
    /// The core's method name (and the binding names).
    pub name: &'static str,
    /// Its arguments, in order.
    pub args: &'static [Arg],
    /// The doc, for every language. `` `@name` `` names another setter
    /// (`sandbox_name` in C, `name` in Python), `$arg` an argument by its
    /// Python name (rendered with the language's name), and `{{c|py}}`
    /// says one thing per language.
    pub doc: &'static str,
    /// A constructor the arguments build the core's single argument with
    /// (`rsandbox::IdMap::new`), instead of passing them one by one.
    pub via: Option<&'static str>,
}

/// A setter named `name` taking `args`, documented by `doc`.
pub const fn row(name: &'static str, args: &'static [Arg], doc: &'static str) -> Setter {
    Setter {
        name,
        args,
        doc,
        via: None,
    }
}

impl Setter {
    /// Build the core's argument with `ctor` from all the arguments.
    pub const fn via(self, ctor: &'static str) -> Setter {
        Setter {
            via: Some(ctor),
            ..self
        }
    }
}

/// A group of rows, kept together (and titled) in every rendering.
#[derive(Debug, Clone, Copy)]
pub struct Section {
    /// The title, e.g. "namespaces".
    pub title: &'static str,
    /// The rows.
    pub rows: &'static [Setter],
}

/// A core builder method whose bindings are written by hand, and where.
#[derive(Debug, Clone, Copy)]
pub struct Hand {
    /// The core's method.
    pub method: &'static str,
    /// The C functions that reach it.
    pub c: &'static [&'static str],
    /// The Python methods of `Sandbox` that reach it.
    pub py: &'static [&'static str],
    /// Why no row of the table can render it.
    pub why: &'static str,
}

/// A core builder method no binding offers, and why.
#[derive(Debug, Clone, Copy)]
pub struct Unbound {
    /// The core's method.
    pub method: &'static str,
    /// Why it stays Rust-only.
    pub why: &'static str,
}
