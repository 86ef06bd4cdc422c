//! What a saved graph and a dashboard are, as JSON, and the rules they must keep before they
//! are stored: pure checks, so that bad input is a 400 naming the problem rather than a
//! PostgreSQL error, and text PostgreSQL cannot hold (a NUL byte) never reaches it.
//!
//! A [`GraphView`] is what the web app's Graph page draws (`targets`, `from`, `until`, as in
//! its URL). A [`DashboardDocument`] is the web app's dashboard, exactly as it exports and
//! imports it as a file (`{title, from, until, graphs: [{title, targets}]}`); the API stores
//! and answers the same JSON, so a file exported from the app can be posted as it is, and a
//! dashboard the API answers can be imported into the app.

/// Most targets one graph may have.
pub(crate) const MAX_TARGETS: usize = 20;
/// Most characters of one target expression.
const MAX_TARGET_CHARS: usize = 4_000;
/// Most characters of a `from` or `until`.
const MAX_TIME_CHARS: usize = 100;
/// Most characters of a name or title.
const MAX_TITLE_CHARS: usize = 200;
/// Most graphs on one dashboard.
const MAX_DASHBOARD_GRAPHS: usize = 50;

/// A graph as the Graph page draws it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub(crate) struct GraphView {
    /// Graphite target expressions, 1 to 20.
    #[schema(example = json!(["stats.counters.deploys.count"]))]
    pub targets: Vec<String>,
    /// The start of the range, a Graphite time (`-6h`, `20261204`, …); `-6h` when absent.
    #[serde(default = "default_from")]
    #[schema(example = "-6h")]
    pub from: String,
    /// The end of the range; `now` when absent.
    #[serde(default = "default_until")]
    #[schema(example = "now")]
    pub until: String,
}

/// One graph of a dashboard.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub(crate) struct DashboardGraph {
    /// Shown above the graph; its targets when empty.
    #[serde(default)]
    pub title: String,
    /// Graphite target expressions, 1 to 20.
    pub targets: Vec<String>,
}

/// A dashboard: the web app's export JSON. Fields the API adds to its answers (`id`, `owner`,
/// …) are ignored when a dashboard is posted, so an answer can be posted back as it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub(crate) struct DashboardDocument {
    /// 1 to 200 characters.
    #[schema(example = "Checkout")]
    pub title: String,
    /// The shared start of every graph's range; `-6h` when absent.
    #[serde(default = "default_from")]
    pub from: String,
    /// The shared end; `now` when absent.
    #[serde(default = "default_until")]
    pub until: String,
    /// The graphs, in order, at most 50.
    #[serde(default)]
    pub graphs: Vec<DashboardGraph>,
}

fn default_from() -> String {
    "-6h".into()
}

fn default_until() -> String {
    "now".into()
}

/// Why a graph or dashboard cannot be stored; the message is the 400's.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct InvalidDocument(pub String);

fn invalid(message: impl Into<String>) -> InvalidDocument {
    InvalidDocument(message.into())
}

/// A name or title: 1 to 200 characters once trimmed, no control characters. Returns it
/// trimmed.
pub(crate) fn checked_title(what: &str, text: &str) -> Result<String, InvalidDocument> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_TITLE_CHARS {
        return Err(invalid(format!(
            "{what} must be 1 to {MAX_TITLE_CHARS} characters"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(invalid(format!("{what} must not hold control characters")));
    }
    Ok(trimmed.to_owned())
}

fn checked_targets(where_: &str, targets: &[String]) -> Result<Vec<String>, InvalidDocument> {
    let targets: Vec<String> = targets
        .iter()
        .map(|target| target.trim().to_owned())
        .collect();
    if targets.is_empty() || targets.len() > MAX_TARGETS {
        return Err(invalid(format!(
            "{where_} must have 1 to {MAX_TARGETS} targets"
        )));
    }
    for (index, target) in targets.iter().enumerate() {
        let number = index + 1;
        if target.is_empty() {
            return Err(invalid(format!("{where_}: target {number} is empty")));
        }
        if target.chars().count() > MAX_TARGET_CHARS {
            return Err(invalid(format!(
                "{where_}: target {number} is longer than {MAX_TARGET_CHARS} characters"
            )));
        }
        if target.chars().any(char::is_control) {
            return Err(invalid(format!(
                "{where_}: target {number} holds a control character"
            )));
        }
    }
    Ok(targets)
}

/// `from` and `until` must be Graphite times the render route would take.
fn checked_range(from: &str, until: &str) -> Result<(String, String), InvalidDocument> {
    let now = chrono::Utc::now().timestamp();
    let mut checked = Vec::with_capacity(2);
    for (what, text) in [("from", from), ("until", until)] {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > MAX_TIME_CHARS {
            return Err(invalid(format!(
                "{what} must be 1 to {MAX_TIME_CHARS} characters"
            )));
        }
        if let Err(error) = crate::graphite::time::parse_time(text, now) {
            return Err(invalid(format!("invalid {what}: {error}")));
        }
        checked.push(text.to_owned());
    }
    let until = checked.pop().expect("two times");
    let from = checked.pop().expect("two times");
    Ok((from, until))
}

impl GraphView {
    /// The view with its targets and times trimmed, or what is wrong with it.
    pub(crate) fn checked(&self) -> Result<GraphView, InvalidDocument> {
        let targets = checked_targets("a graph", &self.targets)?;
        let (from, until) = checked_range(&self.from, &self.until)?;
        Ok(GraphView {
            targets,
            from,
            until,
        })
    }
}

impl DashboardDocument {
    /// The dashboard with its texts trimmed, or what is wrong with it.
    pub(crate) fn checked(&self) -> Result<DashboardDocument, InvalidDocument> {
        let title = checked_title("the dashboard's title", &self.title)?;
        let (from, until) = checked_range(&self.from, &self.until)?;
        if self.graphs.len() > MAX_DASHBOARD_GRAPHS {
            return Err(invalid(format!(
                "a dashboard has at most {MAX_DASHBOARD_GRAPHS} graphs"
            )));
        }
        let graphs = self
            .graphs
            .iter()
            .enumerate()
            .map(|(index, graph)| {
                let where_ = format!("graph {}", index + 1);
                let title = graph.title.trim();
                if !title.is_empty() {
                    checked_title(&format!("{where_}'s title"), title)?;
                }
                Ok(DashboardGraph {
                    title: title.to_owned(),
                    targets: checked_targets(&where_, &graph.targets)?,
                })
            })
            .collect::<Result<_, InvalidDocument>>()?;
        Ok(DashboardDocument {
            title,
            from,
            until,
            graphs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(targets: &[&str], from: &str, until: &str) -> GraphView {
        GraphView {
            targets: targets.iter().map(|target| (*target).to_owned()).collect(),
            from: from.into(),
            until: until.into(),
        }
    }

    #[test]
    fn graph_views_are_trimmed_or_refused_with_the_reason() {
        assert_eq!(
            view(&[" a.b "], " -1h", "now ").checked(),
            Ok(view(&["a.b"], "-1h", "now"))
        );
        let refusals = [
            (view(&[], "-1h", "now"), "1 to 20 targets"),
            (view(&["a", " "], "-1h", "now"), "target 2 is empty"),
            (view(&["a\u{0}b"], "-1h", "now"), "control character"),
            (view(&[&"x".repeat(4_001)], "-1h", "now"), "longer than"),
            (view(&["a"; 21], "-1h", "now"), "1 to 20 targets"),
            (view(&["a"], "yesterday-ish", "now"), "invalid from"),
            (view(&["a"], "-1h", ""), "until must be"),
        ];
        for (graph, reason) in refusals {
            let error = graph.checked().unwrap_err().0;
            assert!(error.contains(reason), "{graph:?}: {error}");
        }
    }

    #[test]
    fn dashboards_are_read_as_the_web_app_exports_them() {
        let exported = r#"{"title":" Checkout ","from":"-1d","until":"now",
            "graphs":[{"title":"","targets":["a.b"]}], "id": 7, "owner": "alice"}"#;
        let document: DashboardDocument = serde_json::from_str(exported).unwrap();
        let checked = document.checked().unwrap();
        assert_eq!(checked.title, "Checkout");
        assert_eq!(checked.graphs[0].targets, ["a.b"]);
        let minimal: DashboardDocument = serde_json::from_str(r#"{"title":"x"}"#).unwrap();
        assert_eq!(
            (minimal.from.as_str(), minimal.until.as_str()),
            ("-6h", "now")
        );

        let untitled = DashboardDocument {
            title: " ".into(),
            ..minimal.clone()
        };
        assert!(untitled.checked().unwrap_err().0.contains("title"));
        let empty_graph = DashboardDocument {
            graphs: vec![DashboardGraph {
                title: String::new(),
                targets: vec![],
            }],
            ..minimal.clone()
        };
        assert!(empty_graph.checked().unwrap_err().0.contains("graph 1"));
        let crowded = DashboardDocument {
            graphs: vec![
                DashboardGraph {
                    title: String::new(),
                    targets: vec!["a".into()],
                };
                51
            ],
            ..minimal
        };
        assert!(crowded.checked().unwrap_err().0.contains("at most 50"));
    }

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(checked_title("name", " cpu ").unwrap(), "cpu");
        assert!(checked_title("name", "").is_err());
        assert!(checked_title("name", &"n".repeat(201)).is_err());
        assert!(checked_title("name", "a\nb").is_err());
    }
}
