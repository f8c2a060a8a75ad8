//! The filter language of `--where`, `--suspect` and `--baseline`: grammar, parser, AST and
//! the canonical rendering printed by `--explain`.
//!
//! ```text
//! expr       = and_expr { "or" and_expr } ;
//! and_expr   = unary { "and" unary } ;
//! unary      = "not" unary | "(" expr ")" | predicate ;
//! predicate  = field ( cmp_op value
//!                    | [ "not" ] "in" "(" value { "," value } ")"
//!                    | "is" [ "not" ] "null"
//!                    | "prefix" value
//!                    | "contains" value ) ;
//! cmp_op     = "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=" ;
//! field      = bare_field | "`" { char | "\`" | "\\" } "`" ;
//! bare_field = field_char { field_char } ;     (* letter, digit or one of _ . @ # - : / \ *)
//! value      = bare_value | "'" { char | escape } "'" | '"' { char | escape } '"' ;
//! bare_value = first { char - ( white | ")" | "," ) } ;  (* first: not ( ) , ' " ` *)
//! escape     = "\'" | '\"' | "\\" ;            (* any other backslash is kept as is *)
//! ```
//!
//! Keywords (`and or not in is null prefix contains`) are case-insensitive; precedence is
//! `not` > `and` > `or`. A bare value may not be `and`, `or`, `not` or `null` (quote it), and a
//! bare field may not be `and`, `or` or `not` (back-quote it). Bare field names and bare
//! values are kept verbatim, backslashes included.
//!
//! Must not: know about columns, types or evaluation. A value is text plus a `quoted` flag;
//! whether a bare `123` or `2024-06-09` is a number or a time is the planner's decision.

use std::fmt;

/// Levels of `(` and `not` the parser will recurse into.
const MAX_NESTING: usize = 200;
/// Depth of the resulting tree (long `and`/`or` chains count one level per operand).
const MAX_DEPTH: usize = 1000;
/// Words that are back-quoted when they appear as field names in the rendering.
const KEYWORDS: [&str; 8] = ["and", "or", "not", "in", "is", "null", "prefix", "contains"];
/// Bare words that cannot be values.
const RESERVED_VALUES: [&str; 4] = ["and", "or", "not", "null"];
const OPERATOR_LIST: &str =
    "=, !=, <, <=, >, >=, in, not in, is null, is not null, prefix or contains";
/// Two-character operators first so that the longest match wins.
const CMP_OPS: [(&str, CmpOp); 8] = [
    ("==", CmpOp::Eq),
    ("!=", CmpOp::Ne),
    ("<>", CmpOp::Ne),
    ("<=", CmpOp::Le),
    (">=", CmpOp::Ge),
    ("=", CmpOp::Eq),
    ("<", CmpOp::Lt),
    (">", CmpOp::Gt),
];

/// A value as written: its text (escapes resolved) and whether it was quoted.
#[derive(Clone, Debug, PartialEq)]
pub struct Literal {
    pub text: String,
    pub quoted: bool,
}

impl Literal {
    /// A value written without quotes.
    pub fn bare(text: impl Into<String>) -> Literal {
        Literal {
            text: text.into(),
            quoted: false,
        }
    }

    /// A value written in quotes: always text.
    pub fn quoted(text: impl Into<String>) -> Literal {
        Literal {
            text: text.into(),
            quoted: true,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp {
        field: String,
        op: CmpOp,
        value: Literal,
    },
    /// `not in` parses as `Not(In)`.
    In {
        field: String,
        values: Vec<Literal>,
    },
    /// `is not null` parses as `Not(IsNull)`.
    IsNull {
        field: String,
    },
    Prefix {
        field: String,
        value: Literal,
    },
    Contains {
        field: String,
        value: Literal,
    },
}

/// A syntax error at byte offset `pos` of the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub pos: usize,
    pub message: String,
}

impl ParseError {
    fn at(pos: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            pos,
            message: message.into(),
        }
    }

    /// The error, the input on one line and a caret under the offending character.
    pub fn render(&self, input: &str) -> String {
        let mut pos = self.pos.min(input.len());
        while !input.is_char_boundary(pos) {
            pos -= 1;
        }
        let line: String = input
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let caret = " ".repeat(input[..pos].chars().count());
        format!("{self}\n  {line}\n  {caret}^")
    }
}

impl fmt::Display for ParseError {
    /// `at column N: message`, N being the 1-based byte column.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at column {}: {}", self.pos + 1, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parse a filter expression.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    let mut p = Parser {
        src: input,
        pos: 0,
        nesting: 0,
        last_bare_end: None,
    };
    p.skip_ws();
    if p.at_end() {
        return Err(ParseError::at(
            0,
            "empty expression: expected a condition such as `Action = block`",
        ));
    }
    let (expr, _) = p.parse_or(None)?;
    p.skip_ws();
    match p.peek() {
        None => Ok(expr),
        Some(')') => Err(ParseError::at(
            p.pos,
            "unbalanced parentheses: `)` without a matching `(`",
        )),
        Some(_) => Err(p.unexpected_after_condition("`and`, `or` or end of input")),
    }
}

/// And-combine several expressions (several `--where` flags), left to right.
pub fn and_all(exprs: Vec<Expr>) -> Option<Expr> {
    exprs
        .into_iter()
        .reduce(|a, b| Expr::And(Box::new(a), Box::new(b)))
}

impl Expr {
    /// Every field name the expression mentions, in order of appearance, deduplicated.
    pub fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_fields(&mut out);
        out
    }

    fn collect_fields<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::And(l, r) | Expr::Or(l, r) => {
                l.collect_fields(out);
                r.collect_fields(out);
            }
            Expr::Not(e) => e.collect_fields(out),
            Expr::Cmp { field, .. }
            | Expr::In { field, .. }
            | Expr::IsNull { field }
            | Expr::Prefix { field, .. }
            | Expr::Contains { field, .. } => {
                if !out.contains(&field.as_str()) {
                    out.push(field);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------

/// An expression and the depth of its tree.
type Node = (Expr, usize);
/// What came just before, for messages ("after `and`"); `None` at the start.
type Ctx = Option<&'static str>;

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    nesting: usize,
    /// End of the most recent bare value, to suggest quoting values with spaces.
    last_bare_end: Option<usize>,
}

fn is_field_char(c: char) -> bool {
    c.is_alphanumeric() || "_.@#-:/\\".contains(c)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_op_char(c: char) -> bool {
    "=!<>~".contains(c)
}

fn ends_bare_value(c: char) -> bool {
    c.is_whitespace() || c == ')' || c == ','
}

fn is_one_of(word: &str, list: &[&str]) -> bool {
    list.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// Depth of a node with children of depth `a` and `b`.
fn deeper(a: usize, b: usize, pos: usize) -> Result<usize, ParseError> {
    let depth = 1 + a.max(b);
    if depth > MAX_DEPTH {
        return Err(ParseError::at(
            pos,
            format!("expression too long or too deeply nested (more than {MAX_DEPTH} levels); use `in (a, b, ...)` for long lists of alternatives"),
        ));
    }
    Ok(depth)
}

/// A short description of the token starting `rest`, for "found ..." in messages.
fn describe(rest: &str) -> String {
    let rest = rest.trim_start();
    let Some(first) = rest.chars().next() else {
        return "end of input".to_string();
    };
    if "(),".contains(first) {
        return format!("`{first}`");
    }
    if first == '\'' || first == '"' {
        return "a quoted string".to_string();
    }
    let token: String = rest
        .chars()
        .take_while(|&c| !ends_bare_value(c) && c != '(')
        .take(24)
        .collect();
    if is_one_of(&token, &["and", "or", "not"]) {
        format!("keyword `{token}`")
    } else {
        format!("`{token}`")
    }
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn found(&self) -> String {
        describe(self.rest())
    }

    /// The maximal run of `pred` characters at the current position.
    fn word(&self, pred: fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let end = rest.find(|c: char| !pred(c)).unwrap_or(rest.len());
        &rest[..end]
    }

    /// Consume the keyword `kw` if it is the next whole word (field-character boundaries).
    fn eat_keyword(&mut self, kw: &str, pred: fn(char) -> bool) -> bool {
        self.skip_ws();
        let word = self.word(pred);
        let hit = word.eq_ignore_ascii_case(kw);
        if hit {
            self.pos += word.len();
        }
        hit
    }

    fn enter(&mut self, pos: usize) -> Result<(), ParseError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(ParseError::at(
                pos,
                format!(
                    "expression nested too deeply (more than {MAX_NESTING} levels of `(` or `not`)"
                ),
            ));
        }
        Ok(())
    }

    fn space_hint(&self) -> &'static str {
        match self.last_bare_end {
            Some(end) if end < self.pos && self.src[end..self.pos].trim().is_empty() => {
                "; quote values that contain spaces ('a b')"
            }
            _ => "",
        }
    }

    fn unexpected_after_condition(&self, expected: &str) -> ParseError {
        let message = format!(
            "expected {expected} after a complete condition, found {}{}",
            self.found(),
            self.space_hint()
        );
        ParseError::at(self.pos, message)
    }

    fn expected_condition(&self, ctx: Ctx) -> ParseError {
        let after = ctx.map(|c| format!(" after {c}")).unwrap_or_default();
        let message = format!(
            "expected a condition (a field name, `not` or `(`){after}, found {}",
            self.found()
        );
        ParseError::at(self.pos, message)
    }

    fn parse_or(&mut self, ctx: Ctx) -> Result<Node, ParseError> {
        let (mut left, mut depth) = self.parse_and(ctx)?;
        while self.eat_keyword("or", is_field_char) {
            let at = self.pos;
            let (right, d) = self.parse_and(Some("`or`"))?;
            depth = deeper(depth, d, at)?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok((left, depth))
    }

    fn parse_and(&mut self, ctx: Ctx) -> Result<Node, ParseError> {
        let (mut left, mut depth) = self.parse_unary(ctx)?;
        while self.eat_keyword("and", is_field_char) {
            let at = self.pos;
            let (right, d) = self.parse_unary(Some("`and`"))?;
            depth = deeper(depth, d, at)?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok((left, depth))
    }

    fn parse_unary(&mut self, ctx: Ctx) -> Result<Node, ParseError> {
        self.skip_ws();
        let start = self.pos;
        if self.eat_keyword("not", is_field_char) {
            self.enter(start)?;
            let (inner, d) = self.parse_unary(Some("`not`"))?;
            self.nesting -= 1;
            return Ok((Expr::Not(Box::new(inner)), deeper(d, 0, start)?));
        }
        if self.peek() == Some('(') {
            return self.parse_group();
        }
        let expr = self.parse_predicate(ctx)?;
        Ok((expr, 1))
    }

    fn parse_group(&mut self) -> Result<Node, ParseError> {
        let open = self.pos;
        self.enter(open)?;
        self.pos += 1;
        let node = self.parse_or(Some("`(`"))?;
        self.skip_ws();
        match self.peek() {
            Some(')') => {
                self.pos += 1;
                self.nesting -= 1;
                Ok(node)
            }
            None => Err(ParseError::at(
                open,
                "unbalanced parentheses: this `(` is never closed",
            )),
            Some(_) => Err(self.unexpected_after_condition("`and`, `or` or `)`")),
        }
    }

    fn parse_predicate(&mut self, ctx: Ctx) -> Result<Expr, ParseError> {
        let field = self.parse_field(ctx)?;
        self.skip_ws();
        if let Some((op, text)) = self.eat_cmp_op()? {
            let value = self.parse_value(text)?;
            return Ok(Expr::Cmp { field, op, value });
        }
        let op_pos = self.pos;
        let word = self.word(is_word_char);
        self.pos += word.len();
        match word.to_ascii_lowercase().as_str() {
            "in" => Ok(Expr::In {
                values: self.parse_list("in")?,
                field,
            }),
            "not" => self.parse_not_in(field),
            "is" => self.parse_is(field),
            "prefix" => Ok(Expr::Prefix {
                value: self.parse_value("prefix")?,
                field,
            }),
            "contains" => Ok(Expr::Contains {
                value: self.parse_value("contains")?,
                field,
            }),
            "" => {
                let message = format!(
                    "expected an operator after field `{field}`, found {}",
                    self.found()
                );
                Err(ParseError::at(op_pos, message))
            }
            _ => Err(ParseError::at(
                op_pos,
                format!("unknown operator `{word}`; expected {OPERATOR_LIST}"),
            )),
        }
    }

    fn parse_field(&mut self, ctx: Ctx) -> Result<String, ParseError> {
        let start = self.pos;
        match self.peek() {
            Some('`') => {
                let name = self.parse_quoted('`', "`\\", "field name")?;
                if name.is_empty() {
                    return Err(ParseError::at(start, "empty field name ``"));
                }
                Ok(name)
            }
            Some('\'' | '"') => Err(ParseError::at(
                start,
                "expected a field name, found a quoted string; write odd field names in backquotes: `odd name`",
            )),
            _ => {
                let word = self.word(is_field_char);
                if word.is_empty() || is_one_of(word, &["and", "or"]) {
                    return Err(self.expected_condition(ctx));
                }
                self.pos += word.len();
                Ok(word.to_string())
            }
        }
    }

    /// A comparison operator, longest match. A run of operator characters that is not an
    /// operator (`=>`, `===`, `~`) is an error unless a value follows without a space
    /// (`Path=<script>` is `=` and `<script>`).
    fn eat_cmp_op(&mut self) -> Result<Option<(CmpOp, &'static str)>, ParseError> {
        let rest = self.rest();
        let run_len = rest.find(|c: char| !is_op_char(c)).unwrap_or(rest.len());
        if run_len == 0 {
            return Ok(None);
        }
        let run_ends_token = rest[run_len..]
            .chars()
            .next()
            .is_none_or(char::is_whitespace);
        match CMP_OPS.iter().find(|(text, _)| rest.starts_with(text)) {
            Some(&(text, op)) if text.len() == run_len || !run_ends_token => {
                self.pos += text.len();
                Ok(Some((op, text)))
            }
            _ => Err(ParseError::at(
                self.pos,
                format!(
                    "unknown operator `{}`; expected {OPERATOR_LIST}",
                    &rest[..run_len]
                ),
            )),
        }
    }

    fn parse_not_in(&mut self, field: String) -> Result<Expr, ParseError> {
        if self.eat_keyword("in", is_word_char) {
            let values = self.parse_list("not in")?;
            return Ok(Expr::Not(Box::new(Expr::In { field, values })));
        }
        let message = format!(
            "expected `in` after `not`, found {}; to negate a condition put `not` before it: `not {} = ...`",
            self.found(),
            FieldName(&field)
        );
        Err(ParseError::at(self.pos, message))
    }

    fn parse_is(&mut self, field: String) -> Result<Expr, ParseError> {
        if self.eat_keyword("null", is_word_char) {
            return Ok(Expr::IsNull { field });
        }
        if !self.eat_keyword("not", is_word_char) {
            let message = format!(
                "expected `null` or `not null` after `is`, found {}",
                self.found()
            );
            return Err(ParseError::at(self.pos, message));
        }
        if self.eat_keyword("null", is_word_char) {
            return Ok(Expr::Not(Box::new(Expr::IsNull { field })));
        }
        let message = format!("expected `null` after `is not`, found {}", self.found());
        Err(ParseError::at(self.pos, message))
    }

    /// `( value { , value } )` after `in` / `not in`.
    fn parse_list(&mut self, kw: &str) -> Result<Vec<Literal>, ParseError> {
        self.skip_ws();
        let open = self.pos;
        if self.peek() != Some('(') {
            let message = format!(
                "expected `(` after `{kw}`, found {}; write `{kw} (a, b, c)`",
                self.found()
            );
            return Err(ParseError::at(open, message));
        }
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(')') {
            return Err(ParseError::at(
                self.pos,
                format!("empty list: `{kw} (...)` needs at least one value"),
            ));
        }
        let mut values = Vec::new();
        let mut after = "(";
        loop {
            values.push(self.parse_value(after)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => after = ",",
                Some(')') => {
                    self.pos += 1;
                    return Ok(values);
                }
                None => {
                    let message = format!(
                        "unbalanced parentheses: the `(` of this `{kw}` list is never closed"
                    );
                    return Err(ParseError::at(open, message));
                }
                Some(_) => {
                    let message = format!(
                        "expected `,` or `)` in the `{kw}` list, found {}{}",
                        self.found(),
                        self.space_hint()
                    );
                    return Err(ParseError::at(self.pos, message));
                }
            }
            self.pos += 1;
        }
    }

    fn parse_value(&mut self, after: &str) -> Result<Literal, ParseError> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            Some(q @ ('\'' | '"')) => Ok(Literal::quoted(self.parse_quoted(q, "'\"\\", "string")?)),
            Some('`') => Err(ParseError::at(
                start,
                format!("expected a value after `{after}`, found a backquote; backquotes are for field names, quote values with '...' or \"...\""),
            )),
            Some('(') => Err(ParseError::at(
                start,
                format!("expected a value after `{after}`, found `(`; for a list of values use `in (a, b)`, quote text that starts with `(`"),
            )),
            Some(c) if !ends_bare_value(c) => self.parse_bare_value(after),
            _ => Err(ParseError::at(start, format!("expected a value after `{after}`, found {}", self.found()))),
        }
    }

    fn parse_bare_value(&mut self, after: &str) -> Result<Literal, ParseError> {
        let rest = self.rest();
        let text = &rest[..rest.find(ends_bare_value).unwrap_or(rest.len())];
        if text.eq_ignore_ascii_case("null") {
            return Err(ParseError::at(
                self.pos,
                "`null` is not a value: use `is null` / `is not null`, or quote it ('null') to match the text",
            ));
        }
        if is_one_of(text, &RESERVED_VALUES) {
            let message = format!("expected a value after `{after}`, found keyword `{text}`; quote it ('{text}') to match the text");
            return Err(ParseError::at(self.pos, message));
        }
        self.pos += text.len();
        self.last_bare_end = Some(self.pos);
        Ok(Literal::bare(text))
    }

    /// A string in `quote`s starting at the current position. A backslash before one of
    /// `escapes` stands for that character; any other backslash is kept.
    fn parse_quoted(
        &mut self,
        quote: char,
        escapes: &str,
        what: &str,
    ) -> Result<String, ParseError> {
        let start = self.pos;
        let body = start + quote.len_utf8();
        let mut out = String::new();
        let mut chars = self.src[body..].char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.pos = body + i + c.len_utf8();
                return Ok(out);
            }
            match chars.peek() {
                Some(&(_, e)) if c == '\\' && escapes.contains(e) => {
                    out.push(e);
                    chars.next();
                }
                _ => out.push(c),
            }
        }
        let message = format!("unterminated {what}: the {quote} opened here is never closed");
        Err(ParseError::at(start, message))
    }
}

// ---------------------------------------------------------------------------------------
// Canonical rendering
// ---------------------------------------------------------------------------------------

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn needs_quotes(text: &str) -> bool {
    text.is_empty()
        || text.starts_with(['(', '\'', '"', '`'])
        || text.contains(ends_bare_value)
        || is_one_of(text, &RESERVED_VALUES)
}

fn write_escaped(f: &mut fmt::Formatter<'_>, quote: char, text: &str) -> fmt::Result {
    write!(f, "{quote}")?;
    for c in text.chars() {
        if c == quote || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    write!(f, "{quote}")
}

impl fmt::Display for Literal {
    /// Bare when it was bare and can stay bare, otherwise in single quotes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.quoted || needs_quotes(&self.text) {
            write_escaped(f, '\'', &self.text)
        } else {
            f.write_str(&self.text)
        }
    }
}

/// A field name, back-quoted when it is not a plain bare word.
struct FieldName<'a>(&'a str);

impl fmt::Display for FieldName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.0;
        if name.is_empty() || !name.chars().all(is_field_char) || is_one_of(name, &KEYWORDS) {
            write_escaped(f, '`', name)
        } else {
            f.write_str(name)
        }
    }
}

impl fmt::Display for Expr {
    /// Canonical text: lowercase keywords, single spaces, minimal parentheses.
    /// `parse(&e.to_string()) == Ok(e)` for every `e` that `parse` returns.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_expr(self, f, 0)
    }
}

/// Binding strength: 0 `or`, 1 `and`, 2 `not` and predicates.
fn level(e: &Expr) -> u8 {
    match e {
        Expr::Or(..) => 0,
        Expr::And(..) => 1,
        _ => 2,
    }
}

/// Write `e` in a position that needs at least binding strength `min`.
fn write_expr(e: &Expr, f: &mut fmt::Formatter<'_>, min: u8) -> fmt::Result {
    if level(e) >= min {
        return write_unparenthesized(e, f);
    }
    f.write_str("(")?;
    write_unparenthesized(e, f)?;
    f.write_str(")")
}

fn write_unparenthesized(e: &Expr, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match e {
        Expr::Or(l, r) => {
            write_expr(l, f, 0)?;
            f.write_str(" or ")?;
            write_expr(r, f, 1)
        }
        Expr::And(l, r) => {
            write_expr(l, f, 1)?;
            f.write_str(" and ")?;
            write_expr(r, f, 2)
        }
        Expr::Not(inner) => write_not(inner, f),
        Expr::Cmp { field, op, value } => write!(f, "{} {op} {value}", FieldName(field)),
        Expr::In { field, values } => {
            write!(f, "{} in ", FieldName(field))?;
            write_list(values, f)
        }
        Expr::IsNull { field } => write!(f, "{} is null", FieldName(field)),
        Expr::Prefix { field, value } => write!(f, "{} prefix {value}", FieldName(field)),
        Expr::Contains { field, value } => write!(f, "{} contains {value}", FieldName(field)),
    }
}

fn write_not(inner: &Expr, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match inner {
        Expr::In { field, values } => {
            write!(f, "{} not in ", FieldName(field))?;
            write_list(values, f)
        }
        Expr::IsNull { field } => write!(f, "{} is not null", FieldName(field)),
        _ => {
            f.write_str("not ")?;
            write_expr(inner, f, 2)
        }
    }
}

fn write_list(values: &[Literal], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str("(")?;
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{v}")?;
    }
    f.write_str(")")
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLES: &[&str] = &[
        "Action in (block, challenge) and EdgeResponseStatus >= 403 and not ClientCountry = ru",
        "RuleID=942100",
        "ClientRequestPath prefix /wp-",
        "ClientRequestUserAgent contains 'sqlmap'",
        "ClientRequestPath contains \"a b\"",
        "Datetime >= 2024-06-09 and Datetime < 2024-06-10T12:00:00Z",
        "(Source = waf or Source = firewallmanaged) and not (Action = log)",
        "Metadata.ruleset is null",
        "ClientIP is not null",
        "Action not in (allow, log)",
        "ClientASN != 13335",
        "id\\.orig_h = 10.0.0.1",
        "@timestamp >= 2024-06-09T00:00:00.000Z",
        "alert.signature_id in (2010935,2010936)",
        "_time < 1717900000",
        "`odd name` = x",
        "`has \\` tick` contains 'it\\'s \\\\ here'",
        "A = 1 or B = 2 and C = 3",
        "NOT a = 1 AND b == 2 OR c <> 3",
        "x = 'and' or y = \"null\"",
        "ClientCountry in (in, is, no)",
        "Path = <script>",
        "Path=<script>",
        "not not a = 1",
        "a = 1 and (b = 2 and c = 3)",
        "a = 1 or (b = 2 or c = 3)",
        "p contains C:\\temp and q = 'C:\\temp'",
        "`in` = 1 and `not` is null",
        "`` = 1",
    ];

    fn cmp(field: &str, op: CmpOp, value: &str) -> Expr {
        Expr::Cmp {
            field: field.into(),
            op,
            value: Literal::bare(value),
        }
    }

    fn eq(field: &str, value: &str) -> Expr {
        cmp(field, CmpOp::Eq, value)
    }

    fn and(a: Expr, b: Expr) -> Expr {
        Expr::And(Box::new(a), Box::new(b))
    }

    fn or(a: Expr, b: Expr) -> Expr {
        Expr::Or(Box::new(a), Box::new(b))
    }

    fn not(a: Expr) -> Expr {
        Expr::Not(Box::new(a))
    }

    fn err(input: &str) -> ParseError {
        match parse(input) {
            Ok(e) => panic!("{input:?} parsed as {e:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn examples_parse_and_round_trip() {
        for input in EXAMPLES {
            let Ok(expr) = parse(input) else {
                // only the deliberately invalid one
                assert_eq!(*input, "`` = 1");
                continue;
            };
            let text = expr.to_string();
            assert_eq!(parse(&text), Ok(expr.clone()), "{input:?} -> {text:?}");
            assert_eq!(
                text,
                parse(&text).map(|e| e.to_string()).unwrap_or_default()
            );
        }
    }

    #[test]
    fn first_example_structure() {
        let e = parse(EXAMPLES[0]).unwrap();
        let want = and(
            and(
                Expr::In {
                    field: "Action".into(),
                    values: vec![Literal::bare("block"), Literal::bare("challenge")],
                },
                cmp("EdgeResponseStatus", CmpOp::Ge, "403"),
            ),
            not(eq("ClientCountry", "ru")),
        );
        assert_eq!(e, want);
        assert_eq!(
            e.to_string(),
            "Action in (block, challenge) and EdgeResponseStatus >= 403 and not ClientCountry = ru"
        );
    }

    #[test]
    fn predicates() {
        assert_eq!(parse("RuleID=942100").unwrap(), eq("RuleID", "942100"));
        assert_eq!(
            parse("ClientRequestPath prefix /wp-").unwrap(),
            Expr::Prefix {
                field: "ClientRequestPath".into(),
                value: Literal::bare("/wp-")
            }
        );
        assert_eq!(
            parse("ClientRequestUserAgent contains 'sqlmap'").unwrap(),
            Expr::Contains {
                field: "ClientRequestUserAgent".into(),
                value: Literal::quoted("sqlmap")
            }
        );
        assert_eq!(
            parse("p CONTAINS \"a b\"").unwrap(),
            Expr::Contains {
                field: "p".into(),
                value: Literal::quoted("a b")
            }
        );
        assert_eq!(
            parse("Metadata.ruleset IS NULL").unwrap(),
            Expr::IsNull {
                field: "Metadata.ruleset".into()
            }
        );
        assert_eq!(
            parse("ClientIP is not null").unwrap(),
            not(Expr::IsNull {
                field: "ClientIP".into()
            })
        );
        assert_eq!(
            parse("Action NOT IN (allow,log)").unwrap(),
            not(Expr::In {
                field: "Action".into(),
                values: vec![Literal::bare("allow"), Literal::bare("log")]
            })
        );
        assert_eq!(
            parse("ClientASN != 13335").unwrap(),
            cmp("ClientASN", CmpOp::Ne, "13335")
        );
        assert_eq!(parse("a<>b").unwrap(), cmp("a", CmpOp::Ne, "b"));
        assert_eq!(parse("a==b").unwrap(), eq("a", "b"));
        assert_eq!(parse("a<=b").unwrap(), cmp("a", CmpOp::Le, "b"));
        assert_eq!(parse("a>b").unwrap(), cmp("a", CmpOp::Gt, "b"));
        assert_eq!(parse("a<b").unwrap(), cmp("a", CmpOp::Lt, "b"));
        assert_eq!(parse("Path=<script>").unwrap(), eq("Path", "<script>"));
        assert_eq!(
            parse("p prefix/wp-").unwrap(),
            Expr::Prefix {
                field: "p".into(),
                value: Literal::bare("/wp-")
            }
        );
        assert_eq!(
            parse("Datetime < 2024-06-10T12:00:00Z").unwrap(),
            cmp("Datetime", CmpOp::Lt, "2024-06-10T12:00:00Z")
        );
    }

    #[test]
    fn quoting_and_escapes() {
        assert_eq!(
            parse("a = '123'").unwrap(),
            Expr::Cmp {
                field: "a".into(),
                op: CmpOp::Eq,
                value: Literal::quoted("123")
            }
        );
        assert_eq!(
            parse(r"a = 'it\'s'").unwrap(),
            Expr::Cmp {
                field: "a".into(),
                op: CmpOp::Eq,
                value: Literal::quoted("it's")
            }
        );
        assert_eq!(
            parse(r#"a = "say \"hi\"""#).unwrap(),
            Expr::Cmp {
                field: "a".into(),
                op: CmpOp::Eq,
                value: Literal::quoted("say \"hi\"")
            }
        );
        assert_eq!(
            parse(r"a = 'x\\y'").unwrap(),
            Expr::Cmp {
                field: "a".into(),
                op: CmpOp::Eq,
                value: Literal::quoted(r"x\y")
            }
        );
        assert_eq!(
            parse(r"a = 'C:\temp'").unwrap(),
            Expr::Cmp {
                field: "a".into(),
                op: CmpOp::Eq,
                value: Literal::quoted(r"C:\temp")
            }
        );
        assert_eq!(parse(r"a = C:\temp").unwrap(), eq("a", r"C:\temp"));
        assert_eq!(parse("`odd name` = x").unwrap(), eq("odd name", "x"));
        assert_eq!(parse(r"`a\`b` = x").unwrap(), eq("a`b", "x"));
        assert_eq!(parse(r"id\.orig_h = x").unwrap(), eq(r"id\.orig_h", "x"));
        assert_eq!(parse("a = O'Brien").unwrap(), eq("a", "O'Brien"));
        // rendering
        assert_eq!(parse("a = '123'").unwrap().to_string(), "a = '123'");
        assert_eq!(parse(r#"a = "it's""#).unwrap().to_string(), r"a = 'it\'s'");
        assert_eq!(parse("`in` = x").unwrap().to_string(), "`in` = x");
        assert_eq!(parse("`a b` = x").unwrap().to_string(), "`a b` = x");
        assert_eq!(parse("a = O'Brien").unwrap().to_string(), "a = O'Brien");
        assert_eq!(Literal::bare("").to_string(), "''");
        assert_eq!(Literal::bare("a,b").to_string(), "'a,b'");
        assert_eq!(Literal::bare("NULL").to_string(), "'NULL'");
    }

    #[test]
    fn precedence() {
        let (a, b, c) = (eq("a", "1"), eq("b", "2"), eq("c", "3"));
        assert_eq!(
            parse("a=1 or b=2 and c=3").unwrap(),
            or(a.clone(), and(b.clone(), c.clone()))
        );
        assert_eq!(
            parse("a=1 and b=2 or c=3").unwrap(),
            or(and(a.clone(), b.clone()), c.clone())
        );
        assert_eq!(
            parse("not a=1 and b=2").unwrap(),
            and(not(a.clone()), b.clone())
        );
        assert_eq!(
            parse("not (a=1 and b=2)").unwrap(),
            not(and(a.clone(), b.clone()))
        );
        assert_eq!(
            parse("(a=1 or b=2) and c=3").unwrap(),
            and(or(a.clone(), b.clone()), c.clone())
        );
        assert_eq!(
            parse("a=1 and b=2 and c=3").unwrap(),
            and(and(a.clone(), b.clone()), c.clone())
        );
        assert_eq!(
            parse("a=1 or not b=2 or c=3").unwrap(),
            or(or(a.clone(), not(b.clone())), c.clone())
        );
        assert_eq!(parse("((a=1))").unwrap(), a.clone());
        assert_eq!(
            parse("not(a=1)and(b=2)").unwrap(),
            and(not(a.clone()), b.clone())
        );
        // rendering keeps the shape with minimal parentheses
        assert_eq!(
            and(or(a.clone(), b.clone()), c.clone()).to_string(),
            "(a = 1 or b = 2) and c = 3"
        );
        assert_eq!(
            and(a.clone(), and(b.clone(), c.clone())).to_string(),
            "a = 1 and (b = 2 and c = 3)"
        );
        assert_eq!(
            or(a.clone(), and(b.clone(), c.clone())).to_string(),
            "a = 1 or b = 2 and c = 3"
        );
        assert_eq!(
            not(and(a.clone(), b.clone())).to_string(),
            "not (a = 1 and b = 2)"
        );
        assert_eq!(
            not(not(Expr::IsNull { field: "x".into() })).to_string(),
            "not x is not null"
        );
    }

    #[test]
    fn fields_in_order_dedup() {
        let e = parse(EXAMPLES[0]).unwrap();
        assert_eq!(
            e.fields(),
            vec!["Action", "EdgeResponseStatus", "ClientCountry"]
        );
        let e = parse("(Source = waf or Source = fm) and not (Action = log) and Source is null")
            .unwrap();
        assert_eq!(e.fields(), vec!["Source", "Action"]);
        let e = parse("b = 1 and `a x` prefix y or c not in (1) and b contains z").unwrap();
        assert_eq!(e.fields(), vec!["b", "a x", "c"]);
    }

    #[test]
    fn and_all_combines() {
        assert_eq!(and_all(vec![]), None);
        let a = parse("a = 1 or b = 2").unwrap();
        let c = parse("c = 3").unwrap();
        assert_eq!(and_all(vec![c.clone()]), Some(c.clone()));
        let both = and_all(vec![a.clone(), c.clone()]).unwrap();
        assert_eq!(both, and(a, c));
        assert_eq!(both.to_string(), "(a = 1 or b = 2) and c = 3");
        assert_eq!(parse(&both.to_string()), Ok(both));
    }

    #[test]
    fn error_positions_and_messages() {
        let e = err("");
        assert_eq!(e.pos, 0);
        assert!(e.message.contains("empty"), "{e}");
        assert_eq!(err("   ").pos, 0);

        let input = "Datetime >= and x = 1";
        let e = err(input);
        assert_eq!(e.pos, input.find("and").unwrap());
        assert!(e.message.contains("expected a value after `>=`"), "{e}");

        let e = err("Datetime >=");
        assert_eq!(e.pos, 11);
        assert!(
            e.message
                .contains("expected a value after `>=`, found end of input"),
            "{e}"
        );

        let e = err("a ~ b");
        assert_eq!(e.pos, 2);
        assert!(e.message.contains("unknown operator `~`"), "{e}");
        let e = err("a => b");
        assert_eq!(e.pos, 2);
        assert!(e.message.contains("unknown operator `=>`"), "{e}");
        let e = err("a like b");
        assert_eq!(e.pos, 2);
        assert!(e.message.contains("unknown operator `like`"), "{e}");
        let e = err("a");
        assert_eq!(e.pos, 1);
        assert!(
            e.message.contains("expected an operator after field `a`"),
            "{e}"
        );

        let input = "x = 1 and (a = 1 or b = 2";
        let e = err(input);
        assert_eq!(e.pos, input.find('(').unwrap());
        assert!(e.message.contains("unbalanced parentheses"), "{e}");
        let e = err("a = 1)");
        assert_eq!(e.pos, 5);
        assert!(e.message.contains("unbalanced parentheses"), "{e}");
        let input = "a in (b, c";
        assert_eq!(err(input).pos, 5);

        let e = err("a = b c = d");
        assert_eq!(e.pos, 6);
        assert!(e.message.contains("found `c`"), "{e}");
        assert!(e.message.contains("quote values"), "{e}");
        let e = err("(a = b) c");
        assert_eq!(e.pos, 8);

        let input = "a = 1 and b = 'oops";
        let e = err(input);
        assert_eq!(e.pos, input.find('\'').unwrap());
        assert!(e.message.contains("unterminated string"), "{e}");
        let e = err("`a = 1");
        assert_eq!(e.pos, 0);
        assert!(e.message.contains("unterminated field name"), "{e}");

        let e = err("a = 1 and");
        assert_eq!(e.pos, 9);
        assert!(e.message.contains("after `and`, found end of input"), "{e}");
        let e = err("a = 1 and or b = 2");
        assert_eq!(e.pos, 10);
        assert!(e.message.contains("keyword `or`"), "{e}");
        let e = err("a = and");
        assert!(e.message.contains("quote it"), "{e}");
        let e = err("a = null");
        assert!(e.message.contains("is null"), "{e}");
        let e = err("a in ()");
        assert!(e.message.contains("empty list"), "{e}");
        let e = err("a in (b,)");
        assert!(e.message.contains("after `,`, found `)`"), "{e}");
        assert_eq!(e.pos, 8);
        let e = err("a in b");
        assert!(e.message.contains("expected `(` after `in`"), "{e}");
        let e = err("a is nul");
        assert!(
            e.message
                .contains("expected `null` or `not null` after `is`"),
            "{e}"
        );
        let e = err("a is not nul");
        assert!(e.message.contains("after `is not`"), "{e}");
        let e = err("a not = 1");
        assert!(e.message.contains("expected `in` after `not`"), "{e}");
        let e = err("'a' = 1");
        assert!(e.message.contains("backquotes"), "{e}");
        let e = err("a = (b)");
        assert!(e.message.contains("in (a, b)"), "{e}");
        let e = err("a = `b`");
        assert!(e.message.contains("backquote"), "{e}");
        let e = err("() ");
        assert_eq!(e.pos, 1);
        let e = err("not");
        assert!(e.message.contains("after `not`"), "{e}");
    }

    #[test]
    fn display_and_render() {
        let input = "EdgeResponseStatus >= ";
        let e = err(input);
        assert_eq!(
            e.to_string(),
            "at column 23: expected a value after `>=`, found end of input"
        );
        let r = e.render(input);
        let lines: Vec<&str> = r.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2].find('^'), Some(2 + 22));
        let input = "é\t~ 1";
        let r = err(input).render(input);
        assert!(r.ends_with("\n  é ~ 1\n    ^"), "{r}");
        let far = ParseError {
            pos: 999,
            message: "m".into(),
        };
        assert!(far.render("ab").ends_with("  ^"));
        let _: &dyn std::error::Error = &far;
    }

    #[test]
    fn deep_input_is_an_error_not_a_crash() {
        let e = err(&"(".repeat(100_000));
        assert!(e.message.contains("nested too deeply"), "{e}");
        let e = err(&"not ".repeat(100_000));
        assert!(e.message.contains("nested too deeply"), "{e}");
        let long = vec!["a = 1"; 5_000].join(" or ");
        let e = err(&long);
        assert!(e.message.contains("too long"), "{e}");
        // the largest accepted chain still renders and re-parses
        let ok = vec!["a = 1"; MAX_DEPTH].join(" and ");
        let expr = parse(&ok).unwrap();
        assert_eq!(parse(&expr.to_string()), Ok(expr));
        let nested = format!("{}a = 1{}", "(not ".repeat(90), ")".repeat(90));
        let expr = parse(&nested).unwrap();
        assert_eq!(parse(&expr.to_string()), Ok(expr));
    }

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const POOL: &[&str] = &[
        "a",
        "Action",
        "x.y",
        "@ts",
        "id\\.h",
        "`f g`",
        "`",
        "'",
        "\"",
        "'v w'",
        "\"q\"",
        "\\",
        "=",
        "==",
        "!=",
        "<>",
        "<",
        "<=",
        ">",
        ">=",
        "=>",
        "~",
        "!",
        "in",
        "IN",
        "not",
        "NOT",
        "is",
        "null",
        "prefix",
        "contains",
        "and",
        "or",
        "AND",
        "Or",
        "(",
        ")",
        ",",
        " ",
        " ",
        " ",
        "\t",
        "\n",
        "1",
        "403",
        "2024-06-09T12:00:00Z",
        "/wp-",
        "é",
        "日本",
        "*",
        "-",
        ":",
        "#",
        "\u{0}",
        "\u{a0}",
        "`in`",
    ];

    fn random_input(rng: &mut XorShift) -> String {
        let mut s = String::new();
        for _ in 0..rng.below(14) {
            if rng.below(8) == 0 {
                let bytes: Vec<u8> = (0..rng.below(4) + 1).map(|_| rng.next() as u8).collect();
                s.push_str(&String::from_utf8_lossy(&bytes));
            } else {
                s.push_str(POOL[rng.below(POOL.len())]);
            }
            if rng.below(2) == 0 {
                s.push(' ');
            }
        }
        s
    }

    #[test]
    fn fuzz_never_panics_and_round_trips() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut parsed = 0;
        for _ in 0..300_000 {
            let input = random_input(&mut rng);
            match parse(&input) {
                Ok(expr) => {
                    parsed += 1;
                    let text = expr.to_string();
                    assert_eq!(
                        parse(&text),
                        Ok(expr.clone()),
                        "input {input:?} rendered {text:?}"
                    );
                    let _ = expr.fields();
                }
                Err(e) => {
                    assert!(e.pos <= input.len(), "{input:?}: {e:?}");
                    assert!(input.is_char_boundary(e.pos), "{input:?}: {e:?}");
                    assert!(!e.message.is_empty());
                    let _ = e.render(&input);
                }
            }
        }
        assert!(parsed > 1_000, "fuzzer too weak: {parsed} inputs parsed");
    }
}
