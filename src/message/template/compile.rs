//! The document compiled: every `{{ expression }}` parsed once, given the
//! simplest way to run it (a native generator call, a name or attribute
//! path, or the minijinja engine), and classed by what it depends on: the
//! record and the lookups only (evaluated once per record, at load), or a
//! generator or the clock (evaluated per message). Names are resolved here,
//! once the dataset's columns are known.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use minijinja::value::{Object, Value};
use minijinja::{Environment, Error, Expression, UndefinedBehavior};

use super::doc::{split, Document, Json, Piece};
use super::error::TemplateError;
use super::funcs::{self, Gen, Runtime, GENERATORS, PURE, RUNTIME};

/// How much work one evaluation may do (minijinja's fuel: about one unit per
/// instruction and per 64 bytes made): far above any sane expression, far
/// below a runaway that would stall a tick.
pub const FUEL: u64 = 50_000;

/// The engine, with the functions; one for the process (functions find the
/// builder's state in the scope they are given, so nothing here is per run).
pub static ENGINE: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    funcs::register(&mut env);
    env
});

/// Names the engine itself provides (minijinja's built-in globals).
const ENGINE_GLOBALS: &[&str] = &["range", "dict", "namespace"];

/// When an expression can be evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// From the record and the lookups: once per record, at load.
    Record,
    /// Draws a generator or reads the clock or `seq()`: per message.
    Message,
}

/// How an expression is run.
pub enum Code {
    /// A generator called with constant arguments: no engine.
    Gen(Gen),
    /// `name` or `name.attr.attr`: a var or a column, no engine.
    Path {
        root: Root,
        attrs: Vec<String>,
    },
    Engine(Expression<'static, 'static>),
}

#[derive(Debug, Clone)]
pub enum Root {
    Var(usize),
    Column(String),
}

pub struct Expr {
    /// The member it is in (`value.coordinates.latitude`), for errors.
    pub path: String,
    pub source: String,
    pub code: Code,
    pub class: Class,
}

/// A template value compiled. `Lit` holds what never changes, serialized once.
pub enum Node {
    Lit(Json),
    /// A string that is exactly one `{{ expression }}`: that value, typed.
    Typed(usize),
    /// Text around expressions: a string.
    Interp(Vec<Part>),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

pub enum Part {
    Text(String),
    Expr(usize),
}

impl Node {
    /// The latest class of any expression under this node (`None`: a literal).
    pub fn class(&self, exprs: &[Expr]) -> Option<Class> {
        match self {
            Node::Lit(_) => None,
            Node::Typed(e) => Some(exprs[*e].class),
            Node::Interp(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    Part::Expr(e) => Some(exprs[*e].class),
                    Part::Text(_) => None,
                })
                .max(),
            Node::Array(items) => items.iter().filter_map(|n| n.class(exprs)).max(),
            Node::Object(members) => members.iter().filter_map(|(_, n)| n.class(exprs)).max(),
        }
    }
}

/// The whole template, compiled against a dataset's columns and the lookups.
pub struct Compiled {
    pub exprs: Vec<Expr>,
    pub value: Node,
    pub key: Option<Node>,
    pub headers: Vec<(String, Node)>,
    pub vars: Vec<(String, Node, Class)>,
    /// Columns and record-class vars that per-message expressions read: kept
    /// with each record.
    pub carried: Vec<Root>,
    pub runtime: Arc<Runtime>,
}

/// Compiles one expression alone: its syntax (for a check before loading).
pub fn check_syntax(doc: &Document) -> Result<(), TemplateError> {
    let check = |path: &str, source: &str| {
        ENGINE.compile_expression(source).map(|_| ()).map_err(|e| expression_error(path, source, &e))
    };
    walk_strings(doc, &mut |path, s| {
        for piece in split(s, path)?.unwrap_or_default() {
            if let Piece::Expr(e) = piece {
                check(path, &e)?;
            }
        }
        Ok(())
    })
}

/// Calls `f` with every string of the template (that may hold expressions) and its path.
fn walk_strings(
    doc: &Document,
    f: &mut dyn FnMut(&str, &str) -> Result<(), TemplateError>,
) -> Result<(), TemplateError> {
    fn walk(
        v: &Json,
        path: &str,
        f: &mut dyn FnMut(&str, &str) -> Result<(), TemplateError>,
    ) -> Result<(), TemplateError> {
        match v {
            Json::String(s) => f(path, s),
            Json::Array(items) => items.iter().enumerate().try_for_each(|(i, v)| walk(v, &format!("{path}[{i}]"), f)),
            Json::Object(m) => m.iter().try_for_each(|(k, v)| walk(v, &format!("{path}.{k}"), f)),
            _ => Ok(()),
        }
    }
    for (name, v) in &doc.vars {
        walk(v, &format!("vars.{name}"), f)?;
    }
    if let Some(k) = &doc.key {
        walk(k, "key", f)?;
    }
    for (name, v) in &doc.headers {
        walk(v, &format!("headers.{name}"), f)?;
    }
    walk(&doc.value, "value", f)
}

pub fn expression_error(path: &str, source: &str, e: &Error) -> TemplateError {
    TemplateError::Expression { path: path.to_owned(), expr: source.to_owned(), message: engine_message(e) }
}

/// minijinja's message without its trailing source location (the member path says where).
pub fn engine_message(e: &Error) -> String {
    let mut text = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.to_string(),
    };
    if let Some(cut) = text.find(" (in <expression>") {
        text.truncate(cut);
    }
    text
}

struct Compiler<'a> {
    columns: &'a [String],
    /// Every var of the document, for the error about one used above its definition.
    declared: Vec<&'a str>,
    vars: Vec<(String, Class)>,
    exprs: Vec<Expr>,
    runtime: &'a Arc<Runtime>,
    /// What each expression reads: var slots, columns.
    reads: Vec<(Vec<usize>, Vec<String>)>,
}

impl Compiled {
    /// Compiles `doc` for records with `columns` (empty for a synthetic run).
    pub fn new(doc: &Document, columns: &[String], runtime: Arc<Runtime>) -> Result<Self, TemplateError> {
        let declared = doc.vars.iter().map(|(n, _)| n.as_str()).collect();
        let mut c =
            Compiler { columns, declared, vars: Vec::new(), exprs: Vec::new(), runtime: &runtime, reads: Vec::new() };
        let mut vars = Vec::new();
        for (name, v) in &doc.vars {
            if GENERATORS.contains(&name.as_str()) || PURE.contains(&name.as_str()) {
                return Err(TemplateError::Member {
                    path: format!("vars.{name}"),
                    problem: "has the name of a function; choose another name".into(),
                });
            }
            let node = c.node(v, &format!("vars.{name}"))?;
            let class = node.class(&c.exprs).unwrap_or(Class::Record);
            c.vars.push((name.clone(), class));
            vars.push((name.clone(), node, class));
        }
        let key = doc.key.as_ref().map(|k| c.node(k, "key")).transpose()?;
        let headers = doc
            .headers
            .iter()
            .map(|(name, v)| Ok((name.clone(), c.node(v, &format!("headers.{name}"))?)))
            .collect::<Result<Vec<_>, TemplateError>>()?;
        let value = c.node(&doc.value, "value")?;

        // What per-message expressions read from the record: directly, or through record vars.
        let mut carried: Vec<Root> = Vec::new();
        for (i, e) in c.exprs.iter().enumerate() {
            if e.class != Class::Message {
                continue;
            }
            let (slots, cols) = &c.reads[i];
            for &s in slots {
                if c.vars[s].1 == Class::Record && !carried.iter().any(|r| matches!(r, Root::Var(v) if *v == s)) {
                    carried.push(Root::Var(s));
                }
            }
            for col in cols {
                if !carried.iter().any(|r| matches!(r, Root::Column(c) if c == col)) {
                    carried.push(Root::Column(col.clone()));
                }
            }
        }
        Ok(Compiled { exprs: c.exprs, value, key, headers, vars, carried, runtime })
    }

    pub fn var_names(&self) -> Vec<String> {
        self.vars.iter().map(|(n, ..)| n.clone()).collect()
    }
}

impl Compiler<'_> {
    fn node(&mut self, v: &Json, path: &str) -> Result<Node, TemplateError> {
        Ok(match v {
            Json::String(s) => match split(s, path)? {
                None => Node::Lit(v.clone()),
                Some(pieces) => {
                    if let [Piece::Expr(e)] = pieces.as_slice() {
                        if s.starts_with("{{") && s.ends_with("}}") {
                            return Ok(Node::Typed(self.expr(path, e)?));
                        }
                    }
                    let mut parts = Vec::with_capacity(pieces.len());
                    for p in pieces {
                        parts.push(match p {
                            Piece::Text(t) => Part::Text(t),
                            Piece::Expr(e) => Part::Expr(self.expr(path, &e)?),
                        });
                    }
                    Node::Interp(parts)
                }
            },
            Json::Array(items) => {
                let nodes: Vec<Node> = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| self.node(v, &format!("{path}[{i}]")))
                    .collect::<Result<_, _>>()?;
                if nodes.iter().all(|n| matches!(n, Node::Lit(_))) {
                    Node::Lit(v.clone())
                } else {
                    Node::Array(nodes)
                }
            }
            Json::Object(members) => {
                let nodes: Vec<(String, Node)> = members
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), self.node(v, &format!("{path}.{k}"))?)))
                    .collect::<Result<_, TemplateError>>()?;
                if nodes.iter().all(|(_, n)| matches!(n, Node::Lit(_))) {
                    Node::Lit(v.clone())
                } else {
                    Node::Object(nodes)
                }
            }
            other => Node::Lit(other.clone()),
        })
    }

    /// Compiles, resolves and classes one expression.
    fn expr(&mut self, path: &str, source: &str) -> Result<usize, TemplateError> {
        let compiled =
            ENGINE.compile_expression_owned(source.to_owned()).map_err(|e| expression_error(path, source, &e))?;
        let mut slots = Vec::new();
        let mut cols = Vec::new();
        let mut class = Class::Record;
        let mut names: Vec<String> = compiled.undeclared_variables(false).into_iter().collect();
        names.sort();
        for name in &names {
            if let Some(slot) = self.vars.iter().position(|(v, _)| v == name) {
                slots.push(slot);
                class = class.max(self.vars[slot].1);
            } else if self.columns.contains(name) {
                cols.push(name.clone());
            } else if GENERATORS.contains(&name.as_str()) {
                class = Class::Message;
            } else if PURE.contains(&name.as_str()) || ENGINE_GLOBALS.contains(&name.as_str()) {
            } else {
                return Err(self.unknown(path, source, name));
            }
        }
        self.check_lookup_names(path, source)?;
        let code = match self.native(path, source)? {
            Some(code) => code,
            None => Code::Engine(compiled),
        };
        self.exprs.push(Expr { path: path.to_owned(), source: source.to_owned(), code, class });
        self.reads.push((slots, cols));
        Ok(self.exprs.len() - 1)
    }

    fn unknown(&self, path: &str, source: &str, name: &str) -> TemplateError {
        let later = self.declared.contains(&name);
        let columns = if self.columns.is_empty() {
            "none (no dataset: DATASET_URI=none)".to_owned()
        } else {
            self.columns.join(", ")
        };
        let vars = self.vars.iter().map(|(v, _)| v.as_str()).collect::<Vec<_>>().join(", ");
        TemplateError::UnknownName {
            path: path.to_owned(),
            expr: source.to_owned(),
            name: name.to_owned(),
            known: format!(
                "{}; it is neither a column, a var nor a function. Columns: {columns}; vars: {}",
                if later { " (a var is known only below its definition in vars)" } else { "" },
                if vars.is_empty() { "none" } else { &vars }
            ),
        }
    }

    /// `lookup('x', ...)` and `pick('x')` with a literal name: the lookup must exist.
    fn check_lookup_names(&self, path: &str, source: &str) -> Result<(), TemplateError> {
        for f in ["lookup(", "pick("] {
            for (at, _) in source.match_indices(f) {
                let preceded = source[..at].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
                let rest = source[at + f.len()..].trim_start();
                let Some(q) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') else { continue };
                let Some(end) = rest[1..].find(q) else { continue };
                let name = &rest[1..1 + end];
                if !preceded && self.runtime.lookup_index(name).is_none() {
                    return Err(TemplateError::Expression {
                        path: path.to_owned(),
                        expr: source.to_owned(),
                        message: self.runtime.unknown_lookup(name),
                    });
                }
            }
        }
        Ok(())
    }

    /// The way to run `source` without the engine, if it is that simple: a
    /// name (`qty`), an attribute path (`product.name`), or a generator
    /// called with constant arguments (`int(1, 5)`, `fake('email')`).
    fn native(&self, path: &str, source: &str) -> Result<Option<Code>, TemplateError> {
        let mut segments = source.split('.');
        let head = segments.next().unwrap_or_default();
        let attrs: Vec<&str> = segments.collect();
        if super::doc::is_identifier(head) && attrs.iter().all(|a| super::doc::is_identifier(a)) {
            let root = match self.vars.iter().position(|(v, _)| v == head) {
                Some(slot) => Root::Var(slot),
                None if self.columns.iter().any(|c| c == head) => Root::Column(head.to_owned()),
                None => return Ok(None),
            };
            return Ok(Some(Code::Path { root, attrs: attrs.iter().map(|a| (*a).to_owned()).collect() }));
        }
        let Some(open) = source.find('(') else { return Ok(None) };
        let name = source[..open].trim();
        if !GENERATORS.contains(&name) || !source.ends_with(')') || !closes_at_end(&source[open..]) {
            return Ok(None);
        }
        // The arguments as a list: constant if the engine finds no name in them.
        let args_src = format!("[{}]", &source[open + 1..source.len() - 1]);
        let Ok(args) = ENGINE.compile_expression_owned(args_src) else { return Ok(None) };
        if !args.undeclared_variables(false).is_empty() {
            return Ok(None);
        }
        let Ok(args) = args.eval(Value::from(())) else { return Ok(None) };
        let args: Vec<Value> = args.try_iter().map(Iterator::collect).unwrap_or_default();
        match Gen::new(name, &args, self.runtime) {
            Ok(Some(g)) => Ok(Some(Code::Gen(g))),
            Ok(None) => Ok(None),
            // Constant arguments that are wrong are wrong for every message: say so now.
            Err(e) => Err(expression_error(path, source, &e)),
        }
    }
}

/// Whether the `(` at the start of `s` is closed by its last character
/// (so `f(1) + g(2)` is not one call). Quotes are skipped.
fn closes_at_end(s: &str) -> bool {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return i == s.len() - 1;
                }
            }
            _ => {}
        }
    }
    false
}

/// What names mean during one evaluation: the vars evaluated so far, the
/// record (or what a message carries of it), and the runtime. The engine
/// reads it as its context; the builder fills it between evaluations.
#[derive(Debug)]
pub struct Scope {
    slots: HashMap<String, usize>,
    runtime: Value,
    pub frame: Mutex<Frame>,
}

#[derive(Debug, Default)]
pub struct Frame {
    pub record: Value,
    pub vars: Vec<Value>,
}

impl Scope {
    pub fn new(var_names: &[String], runtime: &Arc<Runtime>) -> Arc<Self> {
        let slots = var_names.iter().enumerate().map(|(i, n)| (n.clone(), i)).collect();
        Arc::new(Scope {
            slots,
            runtime: Value::from_dyn_object(Arc::clone(runtime)),
            frame: Mutex::new(Frame { record: Value::from(()), vars: vec![Value::UNDEFINED; var_names.len()] }),
        })
    }

    pub fn frame(&self) -> std::sync::MutexGuard<'_, Frame> {
        self.frame.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn resolve(&self, name: &str) -> Option<Value> {
        if name == RUNTIME {
            return Some(self.runtime.clone());
        }
        let frame = self.frame();
        if let Some(&slot) = self.slots.get(name) {
            let v = &frame.vars[slot];
            if !v.is_undefined() {
                return Some(v.clone());
            }
        }
        frame.record.get_attr(name).ok().filter(|v| !v.is_undefined())
    }
}

impl Object for Scope {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        key.as_str().and_then(|k| self.resolve(k))
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        self.resolve(key)
    }
}

/// Evaluates expression `e` in `scope`.
pub fn eval(c: &Compiled, scope: &Arc<Scope>, e: usize) -> Result<Value, String> {
    let expr = &c.exprs[e];
    match &expr.code {
        Code::Gen(g) => Ok(g.value(&c.runtime)),
        Code::Path { root, attrs } => {
            let mut v = {
                let frame = scope.frame();
                match root {
                    Root::Var(slot) => frame.vars[*slot].clone(),
                    Root::Column(col) => frame.record.get_attr(col).unwrap_or(Value::UNDEFINED),
                }
            };
            let mut at = expr.source.split('.').next().unwrap_or_default().to_owned();
            if v.is_undefined() {
                return Err(format!("undefined value: {at} is not set for this record"));
            }
            for a in attrs {
                v = v.get_attr(a).map_err(|e| engine_message(&e))?;
                at = format!("{at}.{a}");
                if v.is_undefined() {
                    return Err(format!("undefined value: {at} does not exist"));
                }
            }
            Ok(v)
        }
        Code::Engine(x) => x.eval(Value::from_dyn_object(Arc::clone(scope))).map_err(|e| engine_message(&e)),
    }
}

/// The names an expression set reads, for tests and the startup line.
pub fn classes(c: &Compiled) -> (usize, usize, usize) {
    let native = c.exprs.iter().filter(|e| !matches!(e.code, Code::Engine(_))).count();
    let per_message = c.exprs.iter().filter(|e| e.class == Class::Message).count();
    (c.exprs.len(), per_message, native)
}
