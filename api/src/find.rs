//! `GET`/`POST /metrics/find`: Graphite's metric browser, which Grafana's query editor calls to
//! list the next level of the tree.
//!
//! For `query=a.b.*` the answer lists each distinct third segment under `a.b` that matches: a
//! *leaf* when a series has exactly that path, a *branch* (expandable) when series lie below it.
//! A path can be both, and then appears twice, as graphite-web does.

use crate::error::ApiError;
use crate::glob::PathGlob;
use crate::query;
use crate::AppState;
use axum::extract::{RawForm, RawQuery, State};
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
    let depth = glob.depth();
    let mut nodes = BTreeSet::new();
    for name in names {
        let segments: Vec<&str> = name.split('.').collect();
        if segments.len() < depth || !glob.matches_prefix_of(name) {
            continue;
        }
        let path = segments[..depth].join(".");
        let text = segments[depth - 1].to_owned();
        nodes.insert(TreeNode {
            is_leaf: segments.len() == depth,
            path,
            text,
        });
    }
    nodes.into_iter().collect()
}

#[derive(Debug, Serialize)]
struct TreeJsonNode {
    text: String,
    id: String,
    leaf: u8,
    expandable: u8,
    #[serde(rename = "allowChildren")]
    allow_children: u8,
    context: Value,
}

/// `GET /metrics/find?query=...`
pub async fn find_get(
    state: State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    find(state, raw.unwrap_or_default()).await
}

/// `POST /metrics/find` with a form body (query-string parameters are read too).
pub async fn find_post(
    state: State<AppState>,
    RawQuery(raw_query): RawQuery,
    RawForm(form): RawForm,
) -> Result<Json<Value>, ApiError> {
    let mut parameters = raw_query.unwrap_or_default();
    if !form.is_empty() {
        if !parameters.is_empty() {
            parameters.push('&');
        }
        parameters.push_str(&String::from_utf8_lossy(&form));
    }
    find(state, parameters).await
}

async fn find(State(state): State<AppState>, parameters: String) -> Result<Json<Value>, ApiError> {
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
    let glob = PathGlob::new(&pattern)
        .map_err(|error| ApiError::BadRequest(format!("invalid query {pattern:?}: {error}")))?;
    let names = query::names_at_or_below(&state.pool, &glob).await?;
    let nodes = tree_nodes(&glob, &names);
    match format.as_str() {
        "treejson" => Ok(Json(json!(nodes
            .into_iter()
            .map(|node| TreeJsonNode {
                text: node.text,
                id: node.path,
                leaf: u8::from(node.is_leaf),
                expandable: u8::from(!node.is_leaf),
                allow_children: u8::from(!node.is_leaf),
                context: json!({}),
            })
            .collect::<Vec<_>>()))),
        "completer" => Ok(Json(json!({
            "metrics": nodes
                .into_iter()
                .map(|node| json!({
                    "path": if node.is_leaf { node.path } else { format!("{}.", node.path) },
                    "name": node.text,
                    "is_leaf": if node.is_leaf { "1" } else { "0" },
                }))
                .collect::<Vec<_>>()
        }))),
        other => Err(ApiError::BadRequest(format!(
            "format {other:?} is not supported; use treejson or completer"
        ))),
    }
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
