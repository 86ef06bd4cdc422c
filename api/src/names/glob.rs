//! Graphite's path globs, as a pure function from a pattern to a matcher.
//!
//! A path is dot-separated segments; a glob never crosses a dot. Within a segment: `*` matches any
//! run of characters, `?` one character, `[a-z0-9]` one character of a class (`[!a]` or `[^a]`
//! negated), `{a,b,c}` one of the alternatives (which may themselves hold `*`, `?` or classes).
//! Everything else matches itself.
//!
//! The database narrows candidates with [`PathGlob::sql_like_pattern`], a LIKE pattern that
//! accepts every path the glob accepts (and some more: `%` crosses dots); the Rust matcher
//! then decides. LIKE rather than a translated regular expression because PostgreSQL's regex
//! engine costs about a microsecond per row, doubling a wide catalog read, while LIKE is nearly
//! free and its literal prefix is still served by the `text_pattern_ops` index on the name.

use regex::Regex;

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    #[error("unclosed '[' at position {0}")]
    UnclosedClass(usize),
    #[error("unclosed '{{' at position {0}")]
    UnclosedAlternatives(usize),
    #[error("nested '{{' at position {0} is not supported")]
    NestedAlternatives(usize),
    #[error("empty path segment")]
    EmptySegment,
}

/// A compiled path pattern.
#[derive(Debug, Clone)]
pub struct PathGlob {
    pattern: String,
    segments: Vec<SegmentMatcher>,
    literal_prefix: String,
    sql_like_pattern: String,
}

impl PathGlob {
    pub fn new(pattern: &str) -> Result<Self, GlobError> {
        let mut segments = Vec::new();
        let mut offset = 0;
        for segment in pattern.split('.') {
            if segment.is_empty() {
                return Err(GlobError::EmptySegment);
            }
            segments.push(SegmentMatcher::new(segment, offset)?);
            offset += segment.len() + 1;
        }
        let prefix_end = pattern.find(['*', '?', '[', '{']).unwrap_or(pattern.len());
        Ok(Self {
            pattern: pattern.to_owned(),
            segments,
            literal_prefix: pattern[..prefix_end].to_owned(),
            sql_like_pattern: like_pattern(pattern),
        })
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// How many segments the pattern has.
    pub fn depth(&self) -> usize {
        self.segments.len()
    }

    /// The part of the pattern before its first wildcard: every match starts with it, so a
    /// database query can narrow candidates with a prefix search.
    pub fn literal_prefix(&self) -> &str {
        &self.literal_prefix
    }

    /// A LIKE pattern (escape character `\\`) accepting every path [`PathGlob::matches`]
    /// accepts: literal characters stay (LIKE's `%`, `_` and `\\` escaped), `*` and `{...}`
    /// become `%`, `?` and `[...]` become `_`.
    pub fn sql_like_pattern(&self) -> &str {
        &self.sql_like_pattern
    }

    /// A LIKE pattern accepting every path [`PathGlob::matches_prefix_of`] accepts: a match,
    /// or a path below one.
    pub fn sql_like_prefix_pattern(&self) -> String {
        if self.sql_like_pattern.ends_with('%') && !self.sql_like_pattern.ends_with("\\%") {
            self.sql_like_pattern.clone()
        } else {
            format!("{}%", self.sql_like_pattern)
        }
    }

    /// A LIKE pattern accepting every path with more segments than the glob (as many dots as
    /// it has segments, or more): no such path matches, so `name not like` it narrows a
    /// catalog read to the glob's depth, which [`PathGlob::sql_like_pattern`] cannot say (its
    /// `%` crosses dots). `*` alone reads no names at all below the top level this way.
    pub fn sql_deeper_pattern(&self) -> String {
        let mut like = String::with_capacity(2 * self.segments.len() + 1);
        like.push('%');
        for _ in 0..self.segments.len() {
            like.push_str(".%");
        }
        like
    }

    /// Whether a whole path matches (same number of segments, each matching).
    pub fn matches(&self, path: &str) -> bool {
        let mut segments = path.split('.');
        let all_match = self.segments.iter().all(|pattern| {
            segments
                .next()
                .is_some_and(|segment| pattern.is_match(segment))
        });
        all_match && segments.next().is_none()
    }

    /// Whether the first `depth()` segments of a path match: the path is then the pattern's
    /// match itself (a leaf) or lies below it (a branch).
    pub fn matches_prefix_of(&self, path: &str) -> bool {
        let mut segments = path.split('.');
        self.segments.iter().all(|pattern| {
            segments
                .next()
                .is_some_and(|segment| pattern.is_match(segment))
        })
    }
}

/// How one segment of a pattern is matched. The common shapes — `*`, a literal, a literal then
/// `*` — are matched without the regular expression: a wide find tests each of tens of
/// thousands of names against every segment, and a string comparison is several times
/// cheaper than a regex search.
#[derive(Debug, Clone)]
enum SegmentMatcher {
    /// `*`: any segment.
    Anything,
    /// No wildcard: the segment itself.
    Literal(String),
    /// A literal then `*`, like `web*`.
    StartsWith(String),
    Expression(Regex),
}

/// The characters that make a segment more than a literal (`,` and `}` are literal outside
/// alternatives).
const WILDCARDS: [char; 4] = ['*', '?', '[', '{'];

impl SegmentMatcher {
    fn new(segment: &str, offset: usize) -> Result<Self, GlobError> {
        if segment == "*" {
            return Ok(SegmentMatcher::Anything);
        }
        if !segment.contains(WILDCARDS) {
            return Ok(SegmentMatcher::Literal(segment.to_owned()));
        }
        if let Some(literal) = segment.strip_suffix('*') {
            if !literal.contains(WILDCARDS) {
                return Ok(SegmentMatcher::StartsWith(literal.to_owned()));
            }
        }
        Ok(SegmentMatcher::Expression(Self::expression(
            segment, offset,
        )?))
    }

    fn expression(segment: &str, offset: usize) -> Result<Regex, GlobError> {
        let expression = format!("^{}$", segment_to_regex(segment, offset)?);
        // The translation only emits valid expressions; a failure here is a bug, reported as
        // an unclosed class rather than a panic.
        Regex::new(&expression).map_err(|_| GlobError::UnclosedClass(offset))
    }

    fn is_match(&self, segment: &str) -> bool {
        match self {
            SegmentMatcher::Anything => true,
            SegmentMatcher::Literal(literal) => segment == literal,
            SegmentMatcher::StartsWith(literal) => segment.starts_with(literal.as_str()),
            SegmentMatcher::Expression(expression) => expression.is_match(segment),
        }
    }
}

/// The LIKE pattern of a whole glob (already validated by [`segment_to_regex`]).
fn like_pattern(pattern: &str) -> String {
    let mut like = String::with_capacity(pattern.len() + 1);
    let mut characters = pattern.chars();
    let mut in_alternatives = false;
    let push_any = |like: &mut String| {
        if !like.ends_with('%') || like.ends_with("\\%") {
            like.push('%');
        }
    };
    while let Some(character) = characters.next() {
        match character {
            _ if in_alternatives => {
                if character == '}' {
                    in_alternatives = false;
                }
            }
            '*' => push_any(&mut like),
            '{' => {
                in_alternatives = true;
                push_any(&mut like);
            }
            '?' => like.push('_'),
            '[' => {
                like.push('_');
                for member in characters.by_ref() {
                    if member == ']' {
                        break;
                    }
                }
            }
            other => push_like_literal(&mut like, other),
        }
    }
    like
}

/// Appends `character` to a LIKE pattern (escape character `\`) as itself: LIKE's own `%`, `_`
/// and `\` are escaped.
pub(crate) fn push_like_literal(like: &mut String, character: char) {
    if matches!(character, '%' | '_' | '\\') {
        like.push('\\');
    }
    like.push(character);
}

fn segment_to_regex(segment: &str, offset: usize) -> Result<String, GlobError> {
    let characters: Vec<char> = segment.chars().collect();
    let mut expression = String::new();
    let mut index = 0;
    let mut in_alternatives = false;
    while index < characters.len() {
        let character = characters[index];
        match character {
            '*' => expression.push_str("[^.]*"),
            '?' => expression.push_str("[^.]"),
            '[' => {
                let close = characters[index + 1..]
                    .iter()
                    .position(|&candidate| candidate == ']')
                    .ok_or(GlobError::UnclosedClass(offset + index))?;
                let class: String = characters[index + 1..index + 1 + close].iter().collect();
                let (negated, members) = match class.strip_prefix(['!', '^']) {
                    Some(members) => (true, members.to_owned()),
                    None => (false, class),
                };
                expression.push('[');
                if negated {
                    expression.push('^');
                }
                for member in members.chars() {
                    // Keep ranges (`a-z`); escape whatever else the regex syntax would read.
                    if member == '-' || member.is_alphanumeric() {
                        expression.push(member);
                    } else {
                        expression.push_str(&regex::escape(&member.to_string()));
                    }
                }
                expression.push(']');
                index += close + 1;
            }
            '{' => {
                if in_alternatives {
                    return Err(GlobError::NestedAlternatives(offset + index));
                }
                if !characters[index..].contains(&'}') {
                    return Err(GlobError::UnclosedAlternatives(offset + index));
                }
                in_alternatives = true;
                expression.push_str("(?:");
            }
            ',' if in_alternatives => expression.push('|'),
            '}' if in_alternatives => {
                in_alternatives = false;
                expression.push(')');
            }
            other => expression.push_str(&regex::escape(&other.to_string())),
        }
        index += 1;
    }
    Ok(expression)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The shortcuts for common segment shapes agree with the regular expression.
        #[test]
        fn segment_shortcuts_agree_with_the_expression(
            pattern in "[ab*?,}]{1,4}",
            segment in "[ab,}]{0,4}",
        ) {
            let matcher = SegmentMatcher::new(&pattern, 0).unwrap();
            let expression = SegmentMatcher::expression(&pattern, 0).unwrap();
            prop_assert_eq!(matcher.is_match(&segment), expression.is_match(&segment));
        }
    }

    #[test]
    fn matching_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("a.b.c", "a.b.c", true),
            ("a.b.c", "a.b.d", false),
            ("a.*.c", "a.anything.c", true),
            ("a.*.c", "a.x.y.c", false),
            ("a.*", "a.b.c", false),
            ("*", "a", true),
            ("*", "a.b", false),
            ("web*.count", "web01.count", true),
            ("web*.count", "db01.count", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a?c", "abbc", false),
            ("host[0-9]", "host7", true),
            ("host[0-9]", "hostx", false),
            ("host[!0-9]", "hostx", true),
            ("host[^0-9]", "host1", false),
            ("{web,db}.load", "web.load", true),
            ("{web,db}.load", "db.load", true),
            ("{web,db}.load", "cache.load", false),
            ("req.{get*,post}", "req.get_user", true),
            ("req.{get*,post}", "req.put", false),
            ("a+b.c(d)", "a+b.c(d)", true),
            ("a+b.c(d)", "aab.cd", false),
            ("a.b", "a.b.c", false),
        ];
        for (pattern, path, expected) in cases {
            let glob = PathGlob::new(pattern).unwrap();
            assert_eq!(glob.matches(path), *expected, "{pattern} against {path}");
        }
    }

    #[test]
    fn prefixes_and_depth() {
        let glob = PathGlob::new("stats.web*.count").unwrap();
        assert_eq!(glob.depth(), 3);
        assert_eq!(glob.literal_prefix(), "stats.web");
        assert!(glob.matches_prefix_of("stats.web1.count"));
        assert!(glob.matches_prefix_of("stats.web1.count.extra"));
        assert!(!glob.matches_prefix_of("stats.web1"));
        assert_eq!(PathGlob::new("a.b").unwrap().literal_prefix(), "a.b");
    }

    #[test]
    fn like_translation_table() {
        // (glob, LIKE pattern of a match, LIKE pattern of a match or a path below one)
        let cases: &[(&str, &str, &str)] = &[
            ("a.b", "a.b", "a.b%"),
            ("web*.count", "web%.count", "web%.count%"),
            ("a.*", "a.%", "a.%"),
            ("a.**", "a.%", "a.%"),
            ("a?c", "a_c", "a_c%"),
            ("host[0-9a-f].x", "host_.x", "host_.x%"),
            ("host[!0-9]", "host_", "host_%"),
            ("{web,db}.load", "%.load", "%.load%"),
            ("req.{get*,p?st}x", "req.%x", "req.%x%"),
            ("a*{b,c}", "a%", "a%"),
            // LIKE's own wildcards and escape are plain characters of a path.
            ("a_b%c", "a\\_b\\%c", "a\\_b\\%c%"),
            ("x\\y.z%", "x\\\\y.z\\%", "x\\\\y.z\\%%"),
            ("x\\%*", "x\\\\\\%%", "x\\\\\\%%"),
            // A `,` or `}` outside alternatives is a literal character.
            ("a,b}c", "a,b}c", "a,b}c%"),
        ];
        for (pattern, whole, at_or_below) in cases {
            let glob = PathGlob::new(pattern).unwrap();
            assert_eq!(glob.sql_like_pattern(), *whole, "{pattern}");
            assert_eq!(glob.sql_like_prefix_pattern(), *at_or_below, "{pattern}");
        }
    }

    #[test]
    fn deeper_paths_are_one_pattern_per_depth() {
        let cases = [("*", "%.%"), ("a.b", "%.%.%"), ("{a,b}.*.x?", "%.%.%.%")];
        for (pattern, deeper) in cases {
            assert_eq!(
                PathGlob::new(pattern).unwrap().sql_deeper_pattern(),
                deeper,
                "{pattern}"
            );
        }
    }

    #[test]
    fn refused_patterns() {
        let cases = [
            ("a.[bc", GlobError::UnclosedClass(2)),
            ("a.{b,c", GlobError::UnclosedAlternatives(2)),
            ("{a,{b}}", GlobError::NestedAlternatives(3)),
            ("a..b", GlobError::EmptySegment),
        ];
        for (pattern, expected) in cases {
            assert_eq!(PathGlob::new(pattern).unwrap_err(), expected, "{pattern}");
        }
    }
}
