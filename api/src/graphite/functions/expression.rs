//! Graphite render targets, parsed into an [`Expression`] tree (graphite-web's
//! `render/grammar.py`).
//!
//! ```text
//! target     = expression
//! expression = (call | path) { "|" call }        a|f(x) is f(a, x): the pipe prepends
//! call       = identifier "(" [ arguments ] ")"
//! arguments  = argument { "," argument }          keyword arguments name=value come last
//! argument   = number | string | boolean | None | expression
//! path       = any run of characters but ( ) , ' " | and whitespace, where {a,b} and
//!              [..] may hold commas; a backslash escapes the next character
//! ```
//!
//! A number, boolean or `None` is only one when followed by `,`, `)` or the end, as in
//! graphite-web; otherwise the text is a path (`1.2.3`, `5min`, `true.x` are paths). Strings
//! are single- or double-quoted; a backslash keeps the next character, quote included, and the
//! backslash itself stays in the value (graphite-web passes the raw text between the quotes on,
//! which keeps regular expressions like `"\d+"` intact). Whitespace between tokens is ignored.
//! Positions in errors count characters from 0.

use std::fmt;

/// Nesting deeper than this is refused, so that a hostile target cannot exhaust the stack.
/// Every level of the tree counts: a nested call and a pipe alike (`a|f()|g()` is `g(f(a))`,
/// three levels), because evaluation, display and drop all recurse over the tree the parser
/// builds, whichever syntax built it. 64 levels keep evaluation far inside a 2 MiB thread
/// stack, even in a debug build.
pub const MAXIMUM_NESTING: usize = 64;

/// A parsed target: a metric path (possibly a glob) or a function call.
#[derive(Debug, Clone, PartialEq)]
pub enum Expression {
    Path(String),
    Call(FunctionCall),
}

/// `name(arguments..., keyword=argument...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionCall {
    pub name: String,
    pub arguments: Vec<Argument>,
    pub keyword_arguments: Vec<(String, Argument)>,
}

/// One argument of a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Argument {
    Expression(Expression),
    Integer(i64),
    Float(f64),
    String(String),
    Boolean(bool),
    None,
}

/// Why a target could not be parsed: where, and what the parser expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at position {position}: expected {expected}")]
pub struct TargetParseError {
    /// Characters from the start of the target, counting from 0.
    pub position: usize,
    /// What would have been valid there, e.g. "',' or ')'".
    pub expected: String,
}

/// Parses one render target.
pub fn parse_target(target: &str) -> Result<Expression, TargetParseError> {
    let mut parser = Parser {
        characters: target.chars().collect(),
        position: 0,
        nesting: 0,
    };
    parser.skip_whitespace();
    let expression = parser.expression()?;
    parser.skip_whitespace();
    if parser.position < parser.characters.len() {
        return Err(parser.error("end of target or '|'"));
    }
    Ok(expression)
}

/// Characters that end a path (besides whitespace). `{` and `[` open groups inside a path.
fn ends_path(character: char) -> bool {
    matches!(character, '(' | ')' | ',' | '\'' | '"' | '|' | '}') || character.is_whitespace()
}

struct Parser {
    characters: Vec<char>,
    position: usize,
    nesting: usize,
}

impl Parser {
    fn error(&self, expected: &str) -> TargetParseError {
        TargetParseError {
            position: self.position,
            expected: expected.to_owned(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.characters.get(self.position).copied()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.position += 1;
        }
    }

    /// `(call | path) { "|" call }`, with the pipes folded into nested calls.
    fn expression(&mut self) -> Result<Expression, TargetParseError> {
        self.nesting += 1;
        if self.nesting > MAXIMUM_NESTING {
            return Err(self.error("at most 64 levels of nested expressions"));
        }
        let mut expression = self.call_or_path()?;
        // Each pipe wraps the expression so far in one more call: one more level of the tree.
        let mut pipes = 0;
        loop {
            let before_pipe = self.position;
            self.skip_whitespace();
            if self.peek() != Some('|') {
                self.position = before_pipe;
                break;
            }
            pipes += 1;
            self.nesting += 1;
            if self.nesting > MAXIMUM_NESTING {
                return Err(self.error("at most 64 levels of nested expressions"));
            }
            self.position += 1;
            self.skip_whitespace();
            let call_start = self.position;
            let Some(name) = self.identifier() else {
                return Err(self.error("a function call after '|'"));
            };
            self.skip_whitespace();
            if self.peek() != Some('(') {
                self.position = call_start;
                return Err(self.error("a function call after '|'"));
            }
            let mut call = self.call_arguments(name)?;
            call.arguments.insert(0, Argument::Expression(expression));
            expression = Expression::Call(call);
        }
        self.nesting -= 1 + pipes;
        Ok(expression)
    }

    fn call_or_path(&mut self) -> Result<Expression, TargetParseError> {
        let start = self.position;
        if let Some(name) = self.identifier() {
            let after_name = self.position;
            self.skip_whitespace();
            if self.peek() == Some('(') {
                return Ok(Expression::Call(self.call_arguments(name)?));
            }
            self.position = after_name;
        }
        self.position = start;
        self.path().map(Expression::Path)
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`, or nothing (position unchanged).
    fn identifier(&mut self) -> Option<String> {
        let start = self.position;
        match self.peek() {
            Some(first) if first.is_ascii_alphabetic() || first == '_' => {}
            _ => return None,
        }
        while self
            .peek()
            .is_some_and(|character| character.is_ascii_alphanumeric() || character == '_')
        {
            self.position += 1;
        }
        Some(self.characters[start..self.position].iter().collect())
    }

    /// From `(` to `)`, the position being at `(`.
    fn call_arguments(&mut self, name: String) -> Result<FunctionCall, TargetParseError> {
        self.position += 1;
        let mut call = FunctionCall {
            name,
            arguments: Vec::new(),
            keyword_arguments: Vec::new(),
        };
        self.skip_whitespace();
        if self.peek() == Some(')') {
            self.position += 1;
            return Ok(call);
        }
        loop {
            self.skip_whitespace();
            let argument_start = self.position;
            if let Some(keyword) = self.keyword() {
                let value = self.argument("an argument value after '='")?;
                call.keyword_arguments.push((keyword, value));
            } else {
                let value = self.argument("an argument")?;
                if !call.keyword_arguments.is_empty() {
                    self.position = argument_start;
                    return Err(self.error("a keyword argument (positional arguments come first)"));
                }
                call.arguments.push(value);
            }
            self.skip_whitespace();
            match self.peek() {
                Some(',') => self.position += 1,
                Some(')') => {
                    self.position += 1;
                    return Ok(call);
                }
                _ => return Err(self.error("',' or ')'")),
            }
        }
    }

    /// `identifier =` (not `==` or `=~`), consumed with the `=`; or nothing.
    fn keyword(&mut self) -> Option<String> {
        let start = self.position;
        let name = self.identifier()?;
        self.skip_whitespace();
        let is_keyword = self.peek() == Some('=')
            && !matches!(self.characters.get(self.position + 1), Some('=' | '~'));
        if is_keyword {
            self.position += 1;
            self.skip_whitespace();
            Some(name)
        } else {
            self.position = start;
            None
        }
    }

    fn argument(&mut self, expected: &str) -> Result<Argument, TargetParseError> {
        self.skip_whitespace();
        match self.peek() {
            None | Some(',' | ')') => Err(self.error(expected)),
            Some(quote @ ('"' | '\'')) => self.string(quote).map(Argument::String),
            Some(_) => {
                if let Some(literal) = self.literal() {
                    return Ok(literal);
                }
                self.expression().map(Argument::Expression)
            }
        }
    }

    /// A number, boolean or None followed by `,`, `)` or the end; or nothing.
    fn literal(&mut self) -> Option<Argument> {
        let start = self.position;
        let mut end = start;
        while self
            .characters
            .get(end)
            .is_some_and(|character| !ends_path(*character))
        {
            end += 1;
        }
        let mut lookahead = end;
        while self
            .characters
            .get(lookahead)
            .is_some_and(|character| character.is_whitespace())
        {
            lookahead += 1;
        }
        if !matches!(self.characters.get(lookahead), None | Some(',' | ')')) {
            return None;
        }
        let word: String = self.characters[start..end].iter().collect();
        let literal = match word.as_str() {
            _ if word.eq_ignore_ascii_case("true") => Argument::Boolean(true),
            _ if word.eq_ignore_ascii_case("false") => Argument::Boolean(false),
            _ if word.eq_ignore_ascii_case("none") => Argument::None,
            _ => number(&word)?,
        };
        self.position = end;
        Some(literal)
    }

    /// A quoted string, the position being at the opening quote.
    fn string(&mut self, quote: char) -> Result<String, TargetParseError> {
        self.position += 1;
        let mut value = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(self.error(&format!("closing quote {quote}")));
                }
                Some(character) if character == quote => {
                    self.position += 1;
                    return Ok(value);
                }
                Some('\\') => {
                    value.push('\\');
                    self.position += 1;
                    if let Some(escaped) = self.peek() {
                        value.push(escaped);
                        self.position += 1;
                    }
                }
                Some(character) => {
                    value.push(character);
                    self.position += 1;
                }
            }
        }
    }

    /// A metric path or glob. Commas are part of it inside `{}` and `[]`.
    fn path(&mut self) -> Result<String, TargetParseError> {
        let start = self.position;
        let mut path = String::new();
        let mut open_braces = 0usize;
        let mut in_class = false;
        while let Some(character) = self.peek() {
            match character {
                '\\' => {
                    // An escaped character belongs to the path, without the backslash.
                    self.position += 1;
                    match self.peek() {
                        Some(escaped) => path.push(escaped),
                        None => return Err(self.error("a character after '\\'")),
                    }
                }
                '{' if !in_class => {
                    open_braces += 1;
                    path.push(character);
                }
                '}' if open_braces > 0 && !in_class => {
                    open_braces -= 1;
                    path.push(character);
                }
                '[' if !in_class => {
                    in_class = true;
                    path.push(character);
                }
                ']' if in_class => {
                    in_class = false;
                    path.push(character);
                }
                ',' if open_braces > 0 || in_class => path.push(character),
                _ if ends_path(character) => break,
                _ => path.push(character),
            }
            self.position += 1;
        }
        if open_braces > 0 {
            return Err(self.error("'}'"));
        }
        if in_class {
            return Err(self.error("']'"));
        }
        if path.is_empty() {
            self.position = start;
            return Err(self.error("a path or a function call"));
        }
        Ok(path)
    }
}

/// graphite-web's numbers: `-?\d+`, `-?\d+\.\d+`, either with an exponent `[eE]-?\d+`.
fn number(word: &str) -> Option<Argument> {
    let unsigned = word.strip_prefix('-').unwrap_or(word);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(index) => (&unsigned[..index], Some(&unsigned[index + 1..])),
        None => (unsigned, None),
    };
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (mantissa, None),
    };
    if !digits(whole) || fraction.is_some_and(|fraction| !digits(fraction)) {
        return None;
    }
    if let Some(exponent) = exponent {
        if !digits(exponent.strip_prefix('-').unwrap_or(exponent)) {
            return None;
        }
    }
    if fraction.is_none() && exponent.is_none() {
        // Integers beyond i64 are still numbers to graphite-web (Python ints are unbounded).
        return Some(match word.parse::<i64>() {
            Ok(integer) => Argument::Integer(integer),
            Err(_) => Argument::Float(word.parse().ok()?),
        });
    }
    word.parse().ok().map(Argument::Float)
}

impl fmt::Display for Expression {
    /// A canonical text of the expression (strings in single quotes), which graphite-web uses
    /// as the path expression of `seriesByTag(...)`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expression::Path(path) => formatter.write_str(path),
            Expression::Call(call) => {
                write!(formatter, "{}(", call.name)?;
                let mut first = true;
                let mut separator = |formatter: &mut fmt::Formatter<'_>| {
                    let text = if first { "" } else { "," };
                    first = false;
                    formatter.write_str(text)
                };
                for argument in &call.arguments {
                    separator(formatter)?;
                    write!(formatter, "{argument}")?;
                }
                for (keyword, argument) in &call.keyword_arguments {
                    separator(formatter)?;
                    write!(formatter, "{keyword}={argument}")?;
                }
                formatter.write_str(")")
            }
        }
    }
}

impl fmt::Display for Argument {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Argument::Expression(expression) => write!(formatter, "{expression}"),
            Argument::Integer(integer) => write!(formatter, "{integer}"),
            Argument::Float(float) => {
                formatter.write_str(&super::series::format_python_float(*float))
            }
            Argument::String(text) if text.contains('\'') => write!(formatter, "\"{text}\""),
            Argument::String(text) => write!(formatter, "'{text}'"),
            Argument::Boolean(true) => formatter.write_str("true"),
            Argument::Boolean(false) => formatter.write_str("false"),
            Argument::None => formatter.write_str("None"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> Argument {
        Argument::Expression(Expression::Path(text.to_owned()))
    }

    fn call(name: &str, arguments: Vec<Argument>) -> Expression {
        Expression::Call(FunctionCall {
            name: name.to_owned(),
            arguments,
            keyword_arguments: Vec::new(),
        })
    }

    fn string(text: &str) -> Argument {
        Argument::String(text.to_owned())
    }

    #[test]
    fn valid_targets() {
        let cases: Vec<(&str, Expression)> = vec![
            ("a.b.c", Expression::Path("a.b.c".into())),
            ("  a.b.c  ", Expression::Path("a.b.c".into())),
            (
                "web-01_x:y.*.c?[0-9]",
                Expression::Path("web-01_x:y.*.c?[0-9]".into()),
            ),
            ("a.{b,c}.d{1,2}", Expression::Path("a.{b,c}.d{1,2}".into())),
            ("a.[b,c]", Expression::Path("a.[b,c]".into())),
            ("5", Expression::Path("5".into())),
            ("cpu;dc=west", Expression::Path("cpu;dc=west".into())),
            ("a\\(b\\).c", Expression::Path("a(b).c".into())),
            (
                "sumSeries(a.{b,c}.*)",
                call("sumSeries", vec![path("a.{b,c}.*")]),
            ),
            (
                "scale(a.b, 2)",
                call("scale", vec![path("a.b"), Argument::Integer(2)]),
            ),
            (
                "scale(a.b,-2.5)",
                call("scale", vec![path("a.b"), Argument::Float(-2.5)]),
            ),
            (
                "scale(a.b,1e3)",
                call("scale", vec![path("a.b"), Argument::Float(1000.0)]),
            ),
            (
                "scale(a.b,-1.5E-2)",
                call("scale", vec![path("a.b"), Argument::Float(-0.015)]),
            ),
            (
                "f(1.2.3, 5min, true.x)",
                call("f", vec![path("1.2.3"), path("5min"), path("true.x")]),
            ),
            (
                "alias(a.b,\"Large Blue\")",
                call("alias", vec![path("a.b"), string("Large Blue")]),
            ),
            (
                "alias(a.b,'say \"hi\"')",
                call("alias", vec![path("a.b"), string("say \"hi\"")]),
            ),
            (
                "grep(a.*,\"\\d+\\\"x\")",
                call("grep", vec![path("a.*"), string("\\d+\\\"x")]),
            ),
            (
                "f(a,true,False,None,TRUE)",
                call(
                    "f",
                    vec![
                        path("a"),
                        Argument::Boolean(true),
                        Argument::Boolean(false),
                        Argument::None,
                        Argument::Boolean(true),
                    ],
                ),
            ),
            ("constantLine()", call("constantLine", vec![])),
            ("sum ( a , b )", call("sum", vec![path("a"), path("b")])),
            (
                "a.b.c|scale(2)|alias(\"x\")",
                call(
                    "alias",
                    vec![
                        Argument::Expression(call(
                            "scale",
                            vec![path("a.b.c"), Argument::Integer(2)],
                        )),
                        string("x"),
                    ],
                ),
            ),
            (
                "sumSeries(a.* | scale(2))",
                call(
                    "sumSeries",
                    vec![Argument::Expression(call(
                        "scale",
                        vec![path("a.*"), Argument::Integer(2)],
                    ))],
                ),
            ),
            (
                "seriesByTag('name=cpu','dc=~west.*')",
                call(
                    "seriesByTag",
                    vec![string("name=cpu"), string("dc=~west.*")],
                ),
            ),
            (
                "99999999999999999999",
                Expression::Path("99999999999999999999".into()),
            ),
            (
                "f(99999999999999999999)",
                call("f", vec![Argument::Float(1e20)]),
            ),
        ];
        for (target, expected) in cases {
            assert_eq!(parse_target(target), Ok(expected), "{target}");
        }
    }

    #[test]
    fn keyword_arguments() {
        let parsed = parse_target("movingAverage(a.b, windowSize='5min', xFilesFactor=0.5)");
        let expected = Expression::Call(FunctionCall {
            name: "movingAverage".into(),
            arguments: vec![path("a.b")],
            keyword_arguments: vec![
                ("windowSize".into(), string("5min")),
                ("xFilesFactor".into(), Argument::Float(0.5)),
            ],
        });
        assert_eq!(parsed, Ok(expected));
        let piped = parse_target("a.b|transformNull(default=-1)").unwrap();
        let Expression::Call(call) = piped else {
            panic!("a call")
        };
        assert_eq!(call.arguments, vec![path("a.b")]);
        assert_eq!(
            call.keyword_arguments,
            vec![("default".into(), Argument::Integer(-1))]
        );
    }

    #[test]
    fn invalid_targets() {
        let cases = [
            ("", 0, "a path or a function call"),
            ("   ", 3, "a path or a function call"),
            ("sumSeries(a.b", 13, "',' or ')'"),
            ("sumSeries(a.b,)", 14, "an argument"),
            ("sumSeries(,a)", 10, "an argument"),
            ("scale(a.b 2)", 10, "',' or ')'"),
            ("alias(a.b,\"x)", 13, "closing quote \""),
            ("alias(a.b,'x)", 13, "closing quote '"),
            ("a.{b,c", 6, "'}'"),
            ("a.[bc", 5, "']'"),
            ("a.b)", 3, "end of target or '|'"),
            ("a.b|", 4, "a function call after '|'"),
            ("a.b|c.d", 4, "a function call after '|'"),
            ("a.b|scale(2", 11, "',' or ')'"),
            (
                "f(x=1, a.b)",
                7,
                "a keyword argument (positional arguments come first)",
            ),
            ("f(x=)", 4, "an argument value after '='"),
            ("(a)", 0, "a path or a function call"),
            ("f(a)g", 4, "end of target or '|'"),
            ("alias(a.b, \"x\" \"y\")", 15, "',' or ')'"),
            ("a\\", 2, "a character after '\\'"),
        ];
        for (target, position, expected) in cases {
            let error = parse_target(target).unwrap_err();
            assert_eq!(
                (error.position, error.expected.as_str()),
                (position, expected),
                "{target}"
            );
        }
        let error = parse_target("f(a").unwrap_err();
        assert_eq!(error.to_string(), "at position 3: expected ',' or ')'");
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("{}a{}", "f(".repeat(10_000), ")".repeat(10_000));
        let error = parse_target(&deep).unwrap_err();
        assert!(error.expected.contains("nested"), "{error}");
        let fine = format!("{}a{}", "f(".repeat(50), ")".repeat(50));
        assert!(parse_target(&fine).is_ok());
    }

    #[test]
    fn pipes_count_as_nesting() {
        let piped = |count: usize| format!("x{}", "|absolute()".repeat(count));
        let error = parse_target(&piped(1_000)).unwrap_err();
        assert!(error.expected.contains("nested"), "{error}");
        // The target itself is one level, each pipe one more.
        assert!(parse_target(&piped(MAXIMUM_NESTING - 1)).is_ok());
        assert!(parse_target(&piped(MAXIMUM_NESTING)).is_err());
        // Pipes inside arguments add to the calls around them.
        let mixed = format!(
            "{}x{}{}",
            "f(".repeat(40),
            "|g()".repeat(30),
            ")".repeat(40)
        );
        assert!(parse_target(&mixed).is_err());
        // Pipes of sibling arguments do not add up: each argument is its own subtree.
        let siblings = format!(
            "f({})",
            vec![format!("x{}", "|g()".repeat(40)); 5].join(",")
        );
        assert!(parse_target(&siblings).is_ok());
    }

    #[test]
    fn display_is_canonical() {
        let cases = [
            (
                "seriesByTag(\"name=cpu\", 'dc=x')",
                "seriesByTag('name=cpu','dc=x')",
            ),
            (
                "a|scale(2.0)|f(b,x=true,y=None)",
                "f(scale(a,2.0),b,x=true,y=None)",
            ),
        ];
        for (target, expected) in cases {
            assert_eq!(parse_target(target).unwrap().to_string(), expected);
        }
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(target in "\\PC{0,64}") {
            let _ = parse_target(&target);
        }

        #[test]
        fn parsing_graphite_like_text_never_panics(
            target in "[a-z(){}\\[\\],.'\"|=*?\\\\ 0-9eE+-]{0,48}"
        ) {
            let _ = parse_target(&target);
        }
    }
}
