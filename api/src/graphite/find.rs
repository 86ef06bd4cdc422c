//! `GET`/`POST /metrics/find`: Graphite's metric browser, which Grafana's query editor calls to
//! list the next level of the tree.
//!
//! For `query=a.b.*` the answer lists each distinct third segment under `a.b` that matches: a
//! *leaf* when a series has exactly that path, a *branch* (expandable) when series lie below it.
//! A path can be both, and then appears twice, as graphite-web does. The tree holds every
//! series under its bare name and, under `stats`, the etsy namespace (see `namespace`): a
//! counter `api.hits` is also the branch `stats.counters.api.hits` with the leaves `count` and
//! `rate`.

use crate::http::error::ApiError;
use crate::names::glob::PathGlob;
use crate::names::namespace::{self, NamespaceKind, SeriesKind};
use crate::read::query;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{RawForm, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;

/// One node of the answer. Its path is `prefix` followed by `rest`: the prefix is static
/// (`stats.counters.` in the namespace, empty for a bare name) and `rest` is usually the very
/// `String` the catalog read returned, cut after the node's segment, so a node of a wide find
/// costs no allocation of its own.
#[derive(Debug, Clone)]
pub(crate) struct TreeNode {
    prefix: &'static str,
    rest: String,
    pub is_leaf: bool,
}

impl TreeNode {
    /// A node with the full path `path`.
    pub(crate) fn new(path: impl Into<String>, is_leaf: bool) -> Self {
        TreeNode {
            prefix: "",
            rest: path.into(),
            is_leaf,
        }
    }

    /// The full path of the node, e.g. `a.b.c`.
    pub(crate) fn path(&self) -> String {
        format!("{}{}", self.prefix, self.rest)
    }

    /// Its last segment, e.g. `c` (the prefix always ends with a dot).
    pub(crate) fn text(&self) -> &str {
        self.rest.rsplit('.').next().unwrap_or(&self.rest)
    }

    fn path_bytes(&self) -> impl Iterator<Item = u8> + '_ {
        self.prefix.bytes().chain(self.rest.bytes())
    }

    /// Compares full paths; nodes of one prefix (nearly all pairs a sort compares) compare
    /// their rests directly.
    fn cmp_paths(&self, other: &Self) -> Ordering {
        // The prefixes are the same few static strings: equal pointers mean equal prefixes.
        if std::ptr::eq(self.prefix, other.prefix) || self.prefix == other.prefix {
            return self.rest.as_bytes().cmp(other.rest.as_bytes());
        }
        self.path_bytes().cmp(other.path_bytes())
    }
}

impl Ord for TreeNode {
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_paths(other).then(self.is_leaf.cmp(&other.is_leaf))
    }
}

impl PartialOrd for TreeNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for TreeNode {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for TreeNode {}

impl fmt::Display for TreeNode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.prefix)?;
        formatter.write_str(&self.rest)
    }
}

/// The nodes at the pattern's depth, from the names of the series at or below it.
#[cfg(test)]
fn tree_nodes(glob: &PathGlob, names: &[String]) -> Vec<TreeNode> {
    let nodes = names
        .iter()
        .filter(|name| glob.matches_prefix_of(name))
        .map(|name| node_of_name(glob, name.clone(), "", true))
        .collect();
    sorted_without_duplicates(nodes)
}

/// The node at `glob`'s depth of a name that `glob` prefix-matches: the name cut after its
/// `depth`-th segment, in place. A name that ends at that depth is a leaf when
/// `leaf_at_own_depth` (a bare name, or a gauge in the namespace) and otherwise a branch
/// holding the kind's fields.
fn node_of_name(
    glob: &PathGlob,
    mut name: String,
    prefix: &'static str,
    leaf_at_own_depth: bool,
) -> TreeNode {
    // A prefix match has at least `depth` segments.
    let is_leaf = match name.match_indices('.').nth(glob.depth() - 1) {
        Some((dot, _)) => {
            name.truncate(dot);
            false
        }
        None => leaf_at_own_depth,
    };
    TreeNode {
        prefix,
        rest: name,
        is_leaf,
    }
}

/// Every node `pattern` finds, bare names and the etsy namespace together. The two catalog
/// reads are independent, so they go to the database at the same time.
async fn find_nodes(state: &AppState, pattern: &str) -> Result<Vec<TreeNode>, ApiError> {
    let glob = PathGlob::new(pattern).map_err(|error| invalid_query(pattern, error))?;
    let mut bare_nodes = Vec::new();
    let bare_read = query::for_each_name_like(&state.pool, &glob, &SeriesKind::ALL, |name, _| {
        if glob.matches_prefix_of(&name) {
            bare_nodes.push(node_of_name(&glob, name, "", true));
        }
    });
    let (_, mut nodes) = tokio::try_join!(
        async { bare_read.await.map_err(ApiError::from) },
        namespace_nodes(state, pattern),
    )?;
    nodes.append(&mut bare_nodes);
    let nodes = sorted_without_duplicates(nodes);
    check_node_count(state, nodes.len())?;
    Ok(nodes)
}

/// An answer wider than `api.max_find_nodes` is refused rather than built and sent: a browser
/// of the tree has no use for it, and its cost grows with the catalog.
fn check_node_count(state: &AppState, count: usize) -> Result<(), ApiError> {
    let limit = state.settings.max_find_nodes;
    if count > limit {
        return Err(ApiError::BadRequest(format!(
            "the answer would list {count} nodes, more than the limit of {limit} (api.max_find_nodes); narrow the query"
        )));
    }
    Ok(())
}

/// Most patterns one `/metrics/expand` request may carry: each costs a catalog read, and 5,000
/// of them took 17 s.
pub(crate) const MAX_EXPAND_PATTERNS: usize = 100;

fn invalid_query(pattern: &str, error: crate::names::glob::GlobError) -> ApiError {
    ApiError::BadRequest(format!("invalid query {pattern:?}: {error}"))
}

/// The nodes `pattern` finds under `stats`, the etsy namespace: `stats`, then one branch per
/// kind (`stats.counters`, ...), then each kind's series names, then their fields.
async fn namespace_nodes(state: &AppState, pattern: &str) -> Result<Vec<TreeNode>, ApiError> {
    let invalid = |error| invalid_query(pattern, error);
    let segments: Vec<&str> = pattern.split('.').collect();
    let mut nodes = Vec::new();
    if !PathGlob::new(segments[0])
        .map_err(invalid)?
        .matches("stats")
    {
        return Ok(nodes);
    }
    let kind_glob = segments
        .get(1)
        .map(|segment| PathGlob::new(segment))
        .transpose()
        .map_err(invalid)?;
    // The kinds the pattern reaches: those with a namespace segment that matches.
    let kinds: Vec<SeriesKind> = SeriesKind::ALL
        .into_iter()
        .filter(|kind| {
            kind.namespace_segment()
                .is_some_and(|segment| kind_glob.as_ref().is_none_or(|glob| glob.matches(segment)))
        })
        .collect();
    if segments.len() <= 2 {
        // Only whether a kind has any series matters here; reading their names would read the
        // whole catalog.
        let present = query::kinds_present(&state.pool, &kinds).await?;
        if segments.len() == 1 {
            if !present.is_empty() {
                nodes.push(TreeNode::new("stats", false));
            }
            return Ok(nodes);
        }
        for segment in present.iter().filter_map(|kind| kind.namespace_segment()) {
            nodes.push(TreeNode::new(format!("stats.{segment}"), false));
        }
        return Ok(nodes);
    }
    let name_segments = &segments[2..];
    // One catalog read serves every kind and both sorts of node below: the owner pattern (all
    // but the last segment) is a prefix of the full one, so its candidates include the full
    // pattern's.
    let name_glob = PathGlob::new(&name_segments.join(".")).map_err(invalid)?;
    let owner_glob = match name_segments.len() {
        1 => None,
        length => Some(PathGlob::new(&name_segments[..length - 1].join(".")).map_err(invalid)?),
    };
    let field_glob = PathGlob::new(name_segments[name_segments.len() - 1]).map_err(invalid)?;
    let candidates_glob = owner_glob.as_ref().unwrap_or(&name_glob);
    let percentiles = &state.settings.timer_percentiles;
    query::for_each_name_like(&state.pool, candidates_glob, &kinds, |name, kind| {
        let Some(prefix) = kind.namespace_prefix() else {
            return;
        };
        // A name one segment short of the pattern is the owner of field leaves (`count`,
        // `upper_90`, ...); gauges have no fields. It cannot also reach the pattern's depth.
        let is_owner = kind != SeriesKind::Gauge
            && owner_glob.as_ref().is_some_and(|glob| glob.matches(&name));
        if is_owner {
            for field in kind.namespace_fields(percentiles) {
                let mut path = namespace::display_path(kind, &name, field, true);
                let rest = path.split_off(prefix.len());
                let node = TreeNode {
                    prefix,
                    rest,
                    is_leaf: true,
                };
                if field_glob.matches(node.text()) {
                    nodes.push(node);
                }
            }
            return;
        }
        // A name reaching the pattern's depth: a branch, or a leaf for a gauge.
        if name_glob.matches_prefix_of(&name) {
            nodes.push(node_of_name(
                &name_glob,
                name,
                prefix,
                kind == SeriesKind::Gauge,
            ));
        }
    })
    .await?;
    Ok(nodes)
}

/// The nodes in path order, each once. Many names give the same node (every series below a
/// branch); collecting them all and sorting once is cheaper than keeping a sorted set of
/// tens of thousands of strings up to date on every insert.
fn sorted_without_duplicates(mut nodes: Vec<TreeNode>) -> Vec<TreeNode> {
    nodes.sort_unstable();
    nodes.dedup();
    nodes
}

/// One node of a `treejson` answer, serialized straight from the node: the path is written
/// into the answer, not built first.
struct TreeJsonNode<'node>(&'node TreeNode);

impl Serialize for TreeJsonNode<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let node = self.0;
        let expandable = u8::from(!node.is_leaf);
        let mut fields = serializer.serialize_struct("TreeJsonNode", 6)?;
        fields.serialize_field("text", node.text())?;
        fields.serialize_field("id", &FullPath(node))?;
        fields.serialize_field("leaf", &u8::from(node.is_leaf))?;
        fields.serialize_field("expandable", &expandable)?;
        fields.serialize_field("allowChildren", &expandable)?;
        // graphite-web's always-empty `context` object.
        fields.serialize_field("context", &EmptyContext {})?;
        fields.end()
    }
}

struct FullPath<'node>(&'node TreeNode);

impl Serialize for FullPath<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

#[derive(Debug, Serialize)]
struct EmptyContext {}

/// The `completer` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CompleterAnswer {
    metrics: Vec<CompleterNode>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CompleterNode {
    /// The node's path; a branch's ends with a dot.
    path: String,
    name: String,
    /// "1" for a leaf, "0" for a branch.
    #[schema(value_type = String)]
    is_leaf: &'static str,
}

/// One node of a `treejson` answer, as `TreeJsonNode` writes it (described for the OpenAPI
/// document; the answer itself is streamed without building these).
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code, non_snake_case)]
pub(crate) struct TreeJsonEntry {
    /// The node's last segment.
    text: String,
    /// The node's full path.
    id: String,
    /// 1 for a leaf, else 0.
    leaf: u8,
    expandable: u8,
    allowChildren: u8,
    #[schema(value_type = Object)]
    context: (),
}

/// A find answer: `treejson` (an array) or `completer` (an object).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum FindAnswer {
    TreeJson(Vec<TreeJsonEntry>),
    Completer(CompleterAnswer),
}

/// `format` of `/metrics/find`.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum FindFormat {
    TreeJson,
    Completer,
}

/// The form `POST /metrics/find` takes.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct FindForm {
    query: String,
    format: Option<FindFormat>,
}

/// The form `POST /metrics/expand` takes.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, non_snake_case)]
pub(crate) struct ExpandForm {
    query: Vec<String>,
    leavesOnly: Option<bool>,
}

/// What `/metrics/expand` answers.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ExpandAnswer {
    /// The paths, sorted.
    results: BTreeSet<String>,
}

/// How many nodes go into one chunk of a streamed `treejson` answer (about 100 KiB).
const NODES_PER_CHUNK: usize = 1024;

/// The `treejson` answer, streamed: a wide find answers a megabyte, and encoding the next
/// chunk while the client reads the previous one overlaps the two instead of adding them
/// up; nor is the whole answer ever held in memory at once.
fn streamed_treejson(nodes: Vec<TreeNode>) -> Response {
    let chunk_count = nodes.len().div_ceil(NODES_PER_CHUNK).max(1);
    let chunks = (0..chunk_count).map(move |chunk_index| {
        let start = chunk_index * NODES_PER_CHUNK;
        let end = (start + NODES_PER_CHUNK).min(nodes.len());
        let chunk_nodes = &nodes[start..end];
        // About twice the path (text and id) and 80 bytes of fixed fields per node.
        let expected_bytes: usize = chunk_nodes
            .iter()
            .map(|node| 2 * (node.prefix.len() + node.rest.len()) + 80)
            .sum();
        let mut chunk = Vec::with_capacity(expected_bytes + 2);
        if chunk_index == 0 {
            chunk.push(b'[');
        }
        for (offset, node) in chunk_nodes.iter().enumerate() {
            if start + offset > 0 {
                chunk.push(b',');
            }
            serde_json::to_writer(&mut chunk, &TreeJsonNode(node))?;
        }
        if chunk_index + 1 == chunk_count {
            chunk.push(b']');
        }
        Ok::<_, serde_json::Error>(chunk)
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(futures::stream::iter(chunks)),
    )
        .into_response()
}

/// `GET /metrics/find?query=...`
/// Graphite's metric browser: the nodes of the tree at the depth of a path glob.
#[utoipa::path(
    get,
    path = "/metrics/find",
    tag = "graphite",
    params(
        ("query" = String, Query, description = "A path glob, e.g. `stats.counters.*`", example = "stats.*"),
        ("format" = Option<FindFormat>, Query, description = "treejson (default) or completer"),
    ),
    responses(
        (status = 200, description = "the nodes at the query's depth", body = FindAnswer),
        (status = 400, description = "a parameter is invalid or holds a NUL byte", body = crate::http::error::ErrorBody),
        crate::http::documented_refusals::QueryFailures,
    )
)]
pub(crate) async fn find_get(
    state: State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    find(state, raw.unwrap_or_default()).await
}

/// `POST /metrics/find` with a form body (query-string parameters are read too).
/// `POST /metrics/find` with a form body; query-string parameters count too.
#[utoipa::path(
    post,
    path = "/metrics/find",
    tag = "graphite",
    request_body(content = FindForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "the nodes at the query's depth", body = FindAnswer),
        (status = 413, description = "the body is larger than api.max_body_bytes", body = crate::http::error::ErrorBody),
        (status = 415, description = "the body is not sent as application/x-www-form-urlencoded", body = crate::http::error::ErrorBody),
        (status = 400, description = "a parameter is invalid or holds a NUL byte", body = crate::http::error::ErrorBody),
        crate::http::documented_refusals::QueryFailures,
    )
)]
pub(crate) async fn find_post(
    state: State<AppState>,
    RawQuery(raw_query): RawQuery,
    RawForm(form): RawForm,
) -> Result<Response, ApiError> {
    find(
        state,
        crate::graphite::parameters::join_parameters(raw_query, &form),
    )
    .await
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
        "treejson" => Ok(streamed_treejson(nodes)),
        "completer" => Ok(Json(CompleterAnswer {
            metrics: nodes
                .iter()
                .map(|node| CompleterNode {
                    path: if node.is_leaf {
                        node.path()
                    } else {
                        format!("{node}.")
                    },
                    name: node.text().to_owned(),
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
#[utoipa::path(
    get,
    path = "/metrics/expand",
    tag = "graphite",
    params(
        ("query" = Vec<String>, Query, description = "Path globs, at most 100", explode = true, example = json!(["api.*", "stats.gauges.*"])),
        ("leavesOnly" = Option<bool>, Query, description = "Only leaves"),
    ),
    responses(
        (status = 200, description = "the paths the globs expand to", body = ExpandAnswer),
        (status = 400, description = "a parameter is invalid or holds a NUL byte", body = crate::http::error::ErrorBody),
        crate::http::documented_refusals::QueryFailures,
    )
)]
pub(crate) async fn expand_get(
    state: State<AppState>,
    raw_query: RawQuery,
) -> Result<Json<ExpandAnswer>, ApiError> {
    expand(state, raw_query, RawForm(Default::default())).await
}

/// `POST /metrics/expand` with a form body; query-string parameters count too.
#[utoipa::path(
    post,
    path = "/metrics/expand",
    tag = "graphite",
    request_body(content = ExpandForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "the paths the globs expand to", body = ExpandAnswer),
        (status = 413, description = "the body is larger than api.max_body_bytes", body = crate::http::error::ErrorBody),
        (status = 415, description = "the body is not sent as application/x-www-form-urlencoded", body = crate::http::error::ErrorBody),
        (status = 400, description = "a parameter is invalid or holds a NUL byte", body = crate::http::error::ErrorBody),
        crate::http::documented_refusals::QueryFailures,
    )
)]
pub(crate) async fn expand(
    State(state): State<AppState>,
    RawQuery(raw_query): RawQuery,
    RawForm(form): RawForm,
) -> Result<Json<ExpandAnswer>, ApiError> {
    let parameters = crate::graphite::parameters::join_parameters(raw_query, &form);
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
    if patterns.len() > MAX_EXPAND_PATTERNS {
        return Err(ApiError::BadRequest(format!(
            "{} query patterns, more than the {MAX_EXPAND_PATTERNS} one expand may carry",
            patterns.len()
        )));
    }
    let mut results = BTreeSet::new();
    for pattern in &patterns {
        for node in find_nodes(&state, pattern).await? {
            if node.is_leaf || !leaves_only {
                results.insert(node.path());
            }
        }
        check_node_count(&state, results.len())?;
    }
    Ok(Json(ExpandAnswer { results }))
}

/// `GET /metrics/index.json`: every series' path, at most `api.max_find_nodes` of them.
#[utoipa::path(
    get,
    path = "/metrics/index.json",
    tag = "graphite",
    responses(
        (status = 200, description = "every series name, sorted", body = Vec<String>),
        (status = 400, description = "there are more names than api.max_find_nodes", body = crate::http::error::ErrorBody),
        crate::http::documented_refusals::QueryFailures,
    )
)]
pub(crate) async fn index(State(state): State<AppState>) -> Result<Json<Vec<String>>, ApiError> {
    let limit = state.settings.max_find_nodes;
    let names = query::all_names(&state.pool, limit + 1).await?;
    check_node_count(&state, names.len())?;
    Ok(Json(names))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(path: &str, is_leaf: bool) -> TreeNode {
        TreeNode::new(path, is_leaf)
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
