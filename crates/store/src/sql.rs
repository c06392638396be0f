//! A small builder for statements whose WHERE clauses depend on filters, with `$n` placeholders that
//! both SQLite and PostgreSQL accept.
//!
//! **Invariant:** values are always bound as parameters, never spliced into the text.

use sqlx::Any;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

#[derive(Debug, Clone)]
pub enum Arg {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
}

#[derive(Debug, Default)]
pub struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql { text: text.to_owned(), args: Vec::new() }
    }

    /// Appends text.
    pub fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `arg`.
    pub fn arg(&mut self, arg: Arg) -> &mut Sql {
        self.args.push(arg);
        self.text.push('$');
        self.text.push_str(&self.args.len().to_string());
        self
    }

    pub fn int(&mut self, v: i64) -> &mut Sql {
        self.arg(Arg::Int(v))
    }

    pub fn text_arg(&mut self, v: &str) -> &mut Sql {
        self.arg(Arg::Text(v.to_owned()))
    }

    /// Appends `(p1, p2, …)` for a list of integers; an empty list becomes `(NULL)`, which matches nothing.
    pub fn int_list(&mut self, values: &[i64]) -> &mut Sql {
        self.list(values.iter().map(|v| Arg::Int(*v)))
    }

    /// Appends `(p1, p2, …)` for a list of texts; an empty list becomes `(NULL)`, which matches nothing.
    pub fn text_list(&mut self, values: &[String]) -> &mut Sql {
        self.list(values.iter().map(|v| Arg::Text(v.clone())))
    }

    fn list(&mut self, args: impl ExactSizeIterator<Item = Arg>) -> &mut Sql {
        self.push("(");
        if args.len() == 0 {
            self.push("null");
        }
        for (i, arg) in args.enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.arg(arg);
        }
        self.push(")")
    }

    pub fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for arg in &self.args {
            q = match arg {
                Arg::Int(v) => q.bind(*v),
                Arg::OptInt(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.as_str()),
                Arg::OptText(v) => q.bind(v.as_deref()),
            };
        }
        q
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern used with `escape '\'`.
pub fn like_pattern(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in s.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}
