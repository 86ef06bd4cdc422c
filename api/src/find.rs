//! `GET`/`POST /metrics/find`: Graphite's metric browser, which Grafana's query editor calls to
//! list the next level of the tree.
//!
//! For `query=a.b.*` the answer lists each distinct third segment under `a.b` that matches: a
//! *leaf* when a series has exactly that path, a *branch* (expandable) when series lie below it.
//! A path can be both, and then appears twice, as graphite-web does. The tree holds every
//! series under its bare name and, under `stats`, the etsy namespace (see `namespace`): a
//! counter `api.hits` is also the branch `stats.counters.api.hits` with the leaves `count` and
//! `rate`.

use crate::error::ApiError;
use crate::glob::PathGlob;
use crate::namespace::{self, SeriesKind};
use crate::query;
use crate::AppState;
use axum::extract::{RawForm, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// One node of the answer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TreeNode {
    /// The full path of the node, e.g. `a.b.c`.
    pub path: String,
    /// Its last segment, e.g. `c`.
    pub text: String,
    pub is_leaf: bool,
}

/// The nodes at the pattern's depth, from the names of the series at or below it.
pub fn tree_nodes(glob: &PathGlob, names: &[String]) -> Vec<TreeNode> {
    let mut nodes = Vec::new();
    add_name_nodes(
        &mut nodes,
        glob,
        names.iter().map(String::as_str),
        "",
        |_| true,
    );
    sorted_without_duplicates(nodes)
}

/// Adds the node at `glob`'s depth for each name that lies at or below it, with `prefix` put
/// before the path; `leaf_at_own_depth` says whether a name that ends at that depth is a leaf
/// (a gauge in the namespace) or a branch holding fields (the other kinds).
fn add_name_nodes<'name>(
    nodes: &mut Vec<TreeNode>,
    glob: &PathGlob,
    names: impl Iterator<Item = &'name str>,
    prefix: &str,
    leaf_at_own_depth: impl Fn(&str) -> bool,
) {
    let depth = glob.depth();
    for name in names {
        if !glob.matches_prefix_of(name) {
            continue;
        }
        // A prefix match has at least `depth` segments: the node is the name cut after its
        // `depth`-th segment, and the name is at the node's own depth when nothing follows.
        let (path, at_own_depth) = match name.match_indices('.').nth(depth - 1) {
            Some((dot, _)) => (&name[..dot], false),
            None => (name, true),
        };
        let text = path.rsplit('.').next().unwrap_or(path);
        nodes.push(TreeNode {
            is_leaf: at_own_depth && leaf_at_own_depth(name),
            path: format!("{prefix}{path}"),
            text: text.to_owned(),
        });
    }
}

/// Every node `pattern` finds, bare names and the etsy namespace together.
async fn find_nodes(state: &AppState, pattern: &str) -> Result<Vec<TreeNode>, ApiError> {
    let invalid = |error: crate::glob::GlobError| {
        ApiError::BadRequest(format!("invalid query {pattern:?}: {error}"))
    };
    let glob = PathGlob::new(pattern).map_err(invalid)?;
    let mut nodes = Vec::new();
    let bare = query::names_at_or_below(&state.pool, &glob, &SeriesKind::ALL).await?;
    add_name_nodes(
        &mut nodes,
        &glob,
        bare.iter().map(|(name, _)| name.as_str()),
        "",
        |_| true,
    );

    let segments: Vec<&str> = pattern.split('.').collect();
    if !PathGlob::new(segments[0])
        .map_err(invalid)?
        .matches("stats")
    {
        return Ok(sorted_without_duplicates(nodes));
    }
    let kind_glob = segments
        .get(1)
        .map(|segment| PathGlob::new(segment))
        .transpose()
        .map_err(invalid)?;
    for kind in SeriesKind::ALL {
        let Some(kind_segment) = kind.namespace_segment() else {
            continue;
        };
        let everything = PathGlob::new("*").map_err(invalid)?;
        match segments.len() {
            1 => {
                if !query::names_at_or_below(&state.pool, &everything, &[kind])
                    .await?
                    .is_empty()
                {
                    nodes.push(TreeNode {
                        path: "stats".into(),
                        text: "stats".into(),
                        is_leaf: false,
                    });
                }
            }
            2 => {
                let kind_matches = kind_glob
                    .as_ref()
                    .is_some_and(|glob| glob.matches(kind_segment));
                if kind_matches
                    && !query::names_at_or_below(&state.pool, &everything, &[kind])
                        .await?
                        .is_empty()
                {
                    nodes.push(TreeNode {
                        path: format!("stats.{kind_segment}"),
                        text: kind_segment.into(),
                        is_leaf: false,
                    });
                }
            }
            _ => {
                if !kind_glob
                    .as_ref()
                    .is_some_and(|glob| glob.matches(kind_segment))
                {
                    continue;
                }
                let prefix = format!("stats.{kind_segment}.");
                let name_segments = &segments[2..];
                // One catalog read serves both kinds of node below: the owner pattern (all but
                // the last segment) is a prefix of the full one, so its candidates include the
                // full pattern's.
                let name_glob = PathGlob::new(&name_segments.join(".")).map_err(invalid)?;
                let owner_glob = match name_segments.len() {
                    1 => None,
                    length => Some(
                        PathGlob::new(&name_segments[..length - 1].join(".")).map_err(invalid)?,
                    ),
                };
                let candidates_glob = owner_glob.as_ref().unwrap_or(&name_glob);
                let names = query::names_at_or_below(&state.pool, candidates_glob, &[kind]).await?;
                // Names reaching the pattern's depth: branches, or leaves for gauges.
                add_name_nodes(
                    &mut nodes,
                    &name_glob,
                    names.iter().map(|(name, _)| name.as_str()),
                    &prefix,
                    |_| kind == SeriesKind::Gauge,
                );
                // Names ending one segment short: the last segment is a field.
                let Some(owner_glob) = owner_glob.filter(|_| kind != SeriesKind::Gauge) else {
                    continue;
                };
                let field_glob =
                    PathGlob::new(name_segments[name_segments.len() - 1]).map_err(invalid)?;
                let fields = kind.namespace_fields(&state.settings.timer_percentiles);
                for (name, _) in names.iter().filter(|(name, _)| owner_glob.matches(name)) {
                    for field in &fields {
                        let path = namespace::display_path(kind, name, *field, true);
                        let text = path.rsplit('.').next().unwrap_or_default().to_owned();
                        if field_glob.matches(&text) {
                            nodes.push(TreeNode {
                                path,
                                text,
                                is_leaf: true,
                            });
                        }
                    }
                }
            }
        }
    }
    Ok(sorted_without_duplicates(nodes))
}

/// The nodes in path order, each once. Many names give the same node (every series below a
/// branch); collecting them all and sorting once is cheaper than keeping a sorted set of
/// tens of thousands of strings up to date on every insert.
fn sorted_without_duplicates(mut nodes: Vec<TreeNode>) -> Vec<TreeNode> {
    nodes.sort_unstable();
    nodes.dedup();
    nodes
}

/// One node of a `treejson` answer, serialized straight from the nodes (no `Value` tree in
/// between: a wide find answers tens of thousands of nodes).
#[derive(Debug, Serialize)]
struct TreeJsonNode<'node> {
    text: &'node str,
    id: &'node str,
    leaf: u8,
    expandable: u8,
    #[serde(rename = "allowChildren")]
    allow_children: u8,
    context: EmptyContext,
}

/// graphite-web's always-empty `context` object.
#[derive(Debug, Serialize)]
struct EmptyContext {}

/// The `completer` answer.
#[derive(Debug, Serialize)]
struct CompleterAnswer {
    metrics: Vec<CompleterNode>,
}

#[derive(Debug, Serialize)]
struct CompleterNode {
    path: String,
    name: String,
    is_leaf: &'static str,
}

/// `GET /metrics/find?query=...`
pub async fn find_get(
    state: State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    find(state, raw.unwrap_or_default()).await
}

/// `POST /metrics/find` with a form body (query-string parameters are read too).
pub async fn find_post(
    state: State<AppState>,
    RawQuery(raw_query): RawQuery,
    RawForm(form): RawForm,
) -> Result<Response, ApiError> {
    find(state, crate::render::join_parameters(raw_query, &form)).await
}

async fn find(State(state): State<AppState>, parameters: String) -> Result<Response, ApiError> {
    let mut pattern = None;
    let mut format = "treejson".to_owned();
    for (key, value) in form_urlencoded::parse(parameters.as_bytes()) {
        match key.as_ref() {
            "query" => pattern = Some(value.into_owned()),
            "format" => format = value.into_owned(),
            _ => {}
        }
    }
    let pattern = pattern.ok_or_else(|| ApiError::BadRequest("missing parameter: query".into()))?;
    let nodes = find_nodes(&state, &pattern).await?;
    match format.as_str() {
        "treejson" => Ok(Json(
            nodes
                .iter()
                .map(|node| TreeJsonNode {
                    text: &node.text,
                    id: &node.path,
                    leaf: u8::from(node.is_leaf),
                    expandable: u8::from(!node.is_leaf),
                    allow_children: u8::from(!node.is_leaf),
                    context: EmptyContext {},
                })
                .collect::<Vec<_>>(),
        )
        .into_response()),
        "completer" => Ok(Json(CompleterAnswer {
            metrics: nodes
                .into_iter()
                .map(|node| CompleterNode {
                    path: if node.is_leaf {
                        node.path
                    } else {
                        format!("{}.", node.path)
                    },
                    name: node.text,
                    is_leaf: if node.is_leaf { "1" } else { "0" },
                })
                .collect(),
        })
        .into_response()),
        other => Err(ApiError::BadRequest(format!(
            "format {other:?} is not supported; use treejson or completer"
        ))),
    }
}

/// `GET`/`POST /metrics/expand?query=...` (repeatable, `leavesOnly=1`): the paths the patterns
/// expand to, as `{"results": [...]}`.
pub async fn expand(
    State(state): State<AppState>,
    RawQuery(raw_query): RawQuery,
    RawForm(form): RawForm,
) -> Result<Json<Value>, ApiError> {
    let parameters = crate::render::join_parameters(raw_query, &form);
    let mut patterns = Vec::new();
    let mut leaves_only = false;
    for (key, value) in form_urlencoded::parse(parameters.as_bytes()) {
        match key.as_ref() {
            "query" => patterns.push(value.into_owned()),
            "leavesOnly" => leaves_only = matches!(value.as_ref(), "1" | "true" | "True"),
            _ => {}
        }
    }
    if patterns.is_empty() {
        return Err(ApiError::BadRequest("missing parameter: query".into()));
    }
    // On a GET the form is the query string, so each pattern arrives twice.
    patterns.sort();
    patterns.dedup();
    let mut results = BTreeSet::new();
    for pattern in &patterns {
        for node in find_nodes(&state, pattern).await? {
            if node.is_leaf || !leaves_only {
                results.insert(node.path);
            }
        }
    }
    Ok(Json(json!({ "results": results })))
}

/// `GET /metrics/index.json`: every series' path.
pub async fn index(State(state): State<AppState>) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(query::all_names(&state.pool).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(path: &str, is_leaf: bool) -> TreeNode {
        TreeNode {
            path: path.into(),
            text: path.rsplit('.').next().unwrap().into(),
            is_leaf,
        }
    }

    #[test]
    fn nodes_are_leaves_branches_or_both() {
        let names: Vec<String> = [
            "api.get",
            "api.get.errors",
            "api.post.latency",
            "db.load",
            "apix",
        ]
        .map(String::from)
        .to_vec();
        let glob = PathGlob::new("api.*").unwrap();
        assert_eq!(
            tree_nodes(&glob, &names),
            vec![
                node("api.get", false),
                node("api.get", true),
                node("api.post", false)
            ]
        );
        let top = PathGlob::new("*").unwrap();
        assert_eq!(
            tree_nodes(&top, &names),
            vec![node("api", false), node("apix", true), node("db", false)]
        );
        let braces = PathGlob::new("{api,db}.{get,load}").unwrap();
        assert_eq!(
            tree_nodes(&braces, &names),
            vec![
                node("api.get", false),
                node("api.get", true),
                node("db.load", true)
            ]
        );
    }
}
