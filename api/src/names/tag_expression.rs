//! The tag expressions of Graphite's `seriesByTag(...)`, as a pure matcher.
//!
//! `tag=value` (equal), `tag!=value` (not equal), `tag=~regex` and `tag!=~regex` (the regex is
//! anchored at the start, as graphite-web's `re.match` is). The tag `name` is the series' path.
//! An empty value means "the tag is absent" for `=` and "the tag is present" for `!=`, as in
//! Graphite. A series matches when every expression holds, and at least one expression must be
//! able to match something (`=` or `=~` with a non-empty value), so a query cannot select the
//! whole catalog by accident.

use abacus_proto::catalog::split_catalog_tag;
use regex::Regex;

#[derive(Debug, Clone)]
pub struct TagExpression {
    pub tag: String,
    operator: Operator,
}

#[derive(Debug, Clone)]
enum Operator {
    Equal(String),
    NotEqual(String),
    Matches(Regex),
    DoesNotMatch(Regex),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagExpressionError {
    #[error("tag expression {0:?} has no operator: use tag=value, tag!=value, tag=~regex or tag!=~regex")]
    NoOperator(String),
    #[error("tag expression {0:?} has an empty tag name")]
    EmptyTag(String),
    #[error("tag expression {expression:?} has an invalid regex: {message}")]
    InvalidRegex { expression: String, message: String },
    #[error(
        "seriesByTag needs at least one tag=value or tag=~regex expression with a non-empty value"
    )]
    NothingToMatch,
}

impl TagExpression {
    pub fn parse(expression: &str) -> Result<Self, TagExpressionError> {
        let (tag, operator) = if let Some((tag, regex)) = expression.split_once("!=~") {
            (tag, Operator::DoesNotMatch(anchored(expression, regex)?))
        } else if let Some((tag, regex)) = expression.split_once("=~") {
            (tag, Operator::Matches(anchored(expression, regex)?))
        } else if let Some((tag, value)) = expression.split_once("!=") {
            (tag, Operator::NotEqual(value.to_owned()))
        } else if let Some((tag, value)) = expression.split_once('=') {
            (tag, Operator::Equal(value.to_owned()))
        } else {
            return Err(TagExpressionError::NoOperator(expression.to_owned()));
        };
        let tag = tag.trim();
        if tag.is_empty() {
            return Err(TagExpressionError::EmptyTag(expression.to_owned()));
        }
        Ok(Self {
            tag: tag.to_owned(),
            operator,
        })
    }

    /// Whether this expression can select series by itself.
    pub fn selects(&self) -> bool {
        match &self.operator {
            Operator::Equal(value) => !value.is_empty(),
            Operator::Matches(_) => true,
            Operator::NotEqual(_) | Operator::DoesNotMatch(_) => false,
        }
    }

    /// Whether this expression selects by the `name` tag (`name=` or `name=~`): then the etsy
    /// namespace's names of statsd series count as names too.
    pub fn selects_by_name(&self) -> bool {
        self.tag == "name" && self.selects()
    }

    /// The exact series name this expression requires, if it pins one.
    pub fn exact_name(&self) -> Option<&str> {
        match &self.operator {
            Operator::Equal(value) if self.tag == "name" && !value.is_empty() => Some(value),
            _ => None,
        }
    }

    /// Whether a series with this name and catalog tags (`key:value` or a flag) matches.
    pub fn matches(&self, name: &str, catalog_tags: &[String]) -> bool {
        let value = if self.tag == "name" {
            Some(name)
        } else {
            catalog_tags.iter().find_map(|tag| {
                let (key, value) = split_catalog_tag(tag);
                (key == self.tag).then_some(value)
            })
        };
        self.matches_value(value)
    }

    /// Whether a series with these Graphite tags (`name` included) matches.
    pub fn matches_tags(&self, tags: &std::collections::BTreeMap<String, String>) -> bool {
        self.matches_value(tags.get(&self.tag).map(String::as_str))
    }

    /// Whether the tag's value (`None`: the series lacks the tag) satisfies the expression.
    fn matches_value(&self, value: Option<&str>) -> bool {
        match (&self.operator, value) {
            // An empty value asks about presence; a flag is present with an empty value.
            (Operator::Equal(expected), Some(_)) if expected.is_empty() => false,
            (Operator::NotEqual(unwanted), Some(_)) if unwanted.is_empty() => true,
            (Operator::Equal(expected), Some(value)) => value == expected,
            (Operator::Equal(expected), None) => expected.is_empty(),
            (Operator::NotEqual(unwanted), Some(value)) => value != unwanted,
            (Operator::NotEqual(unwanted), None) => !unwanted.is_empty(),
            (Operator::Matches(regex), Some(value)) => regex.is_match(value),
            (Operator::Matches(_), None) => false,
            (Operator::DoesNotMatch(regex), Some(value)) => !regex.is_match(value),
            (Operator::DoesNotMatch(_), None) => true,
        }
    }
}

/// Parses every expression and checks that together they select something.
pub(crate) fn parse_all(expressions: &[String]) -> Result<Vec<TagExpression>, TagExpressionError> {
    let parsed = expressions
        .iter()
        .map(|expression| TagExpression::parse(expression))
        .collect::<Result<Vec<_>, _>>()?;
    if !parsed.iter().any(TagExpression::selects) {
        return Err(TagExpressionError::NothingToMatch);
    }
    Ok(parsed)
}

fn anchored(expression: &str, regex: &str) -> Result<Regex, TagExpressionError> {
    Regex::new(&format!("^(?:{regex})")).map_err(|error| TagExpressionError::InvalidRegex {
        expression: expression.to_owned(),
        message: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|tag| tag.to_string()).collect()
    }

    #[test]
    fn matching_table() {
        let web_prod = ("http.requests", tags(&["canary", "env:prod", "host:web01"]));
        let db_staging = ("db.queries", tags(&["env:staging", "host:db01"]));
        let cases: &[(&str, bool, bool)] = &[
            ("env=prod", true, false),
            ("env!=prod", false, true),
            ("host=~web", true, false),
            ("host=~eb", false, false),
            ("host!=~web", false, true),
            ("name=http.requests", true, false),
            ("name=~http\\.", true, false),
            ("region=", true, true),
            ("region!=", false, false),
            ("canary=", false, true),
            ("canary!=", true, false),
        ];
        for (expression, matches_web, matches_db) in cases {
            let parsed = TagExpression::parse(expression).unwrap();
            assert_eq!(
                parsed.matches(web_prod.0, &web_prod.1),
                *matches_web,
                "{expression} on web"
            );
            assert_eq!(
                parsed.matches(db_staging.0, &db_staging.1),
                *matches_db,
                "{expression} on db"
            );
        }
    }

    #[test]
    fn a_query_must_select_something() {
        assert!(parse_all(&["env=prod".into(), "host!=web01".into()]).is_ok());
        assert_eq!(
            parse_all(&["host!=web01".into(), "region=".into()]).unwrap_err(),
            TagExpressionError::NothingToMatch
        );
        assert!(matches!(
            TagExpression::parse("env"),
            Err(TagExpressionError::NoOperator(_))
        ));
        assert!(matches!(
            TagExpression::parse("=x"),
            Err(TagExpressionError::EmptyTag(_))
        ));
        assert!(matches!(
            TagExpression::parse("env=~("),
            Err(TagExpressionError::InvalidRegex { .. })
        ));
        assert_eq!(
            TagExpression::parse("name=a.b").unwrap().exact_name(),
            Some("a.b")
        );
    }
}
