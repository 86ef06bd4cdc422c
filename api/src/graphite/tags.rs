//! Graphite's tag autocompletion, as Grafana's query editor calls it:
//! `GET /tags/autoComplete/tags?tagPrefix=&limit=` lists tag names, and
//! `GET /tags/autoComplete/values?tag=&valuePrefix=&limit=` the values of one tag. Every series
//! has the tag `name`, its path.

use crate::http::error::ApiError;
use crate::read::query;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::Json;

const DEFAULT_LIMIT: i64 = 100;

struct AutoCompleteRequest {
    tag: Option<String>,
    prefix: String,
    limit: i64,
}

fn parse(raw: Option<String>, prefix_parameter: &str) -> Result<AutoCompleteRequest, ApiError> {
    let mut request = AutoCompleteRequest {
        tag: None,
        prefix: String::new(),
        limit: DEFAULT_LIMIT,
    };
    for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "tag" => request.tag = Some(value.into_owned()),
            "limit" => {
                request.limit = value
                    .parse::<i64>()
                    .ok()
                    .filter(|limit| *limit > 0)
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "invalid limit {value:?}: expected a positive integer"
                        ))
                    })?
                    .min(10_000);
            }
            key if key == prefix_parameter => request.prefix = value.into_owned(),
            _ => {}
        }
    }
    Ok(request)
}

/// `GET /tags/autoComplete/tags`: tag names.
#[utoipa::path(
    get,
    path = "/tags/autoComplete/tags",
    tag = "graphite",
    params(
        ("tagPrefix" = Option<String>, Query, description = "Only names starting with this"),
        ("limit" = Option<i64>, Query, description = "At most this many (1 or more; default 100, at most 10000)", minimum = 1),
    ),
    responses(
        (status = 200, description = "tag names, sorted", body = Vec<String>),
        (status = 400, description = "a parameter is invalid or holds a NUL byte", body = crate::http::error::ErrorBody),
        crate::http::documented_refusals::QueryFailures,
    )
)]
pub(crate) async fn tag_names(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<String>>, ApiError> {
    let request = parse(raw, "tagPrefix")?;
    let mut names = query::tag_keys(&state.pool, &request.prefix, request.limit).await?;
    if "name".starts_with(&request.prefix) && !names.iter().any(|name| name == "name") {
        names.push("name".into());
        names.sort();
        names.truncate(request.limit as usize);
    }
    Ok(Json(names))
}

/// `GET /tags/autoComplete/values`: the values of one tag.
#[utoipa::path(
    get,
    path = "/tags/autoComplete/values",
    tag = "graphite",
    params(
        ("tag" = String, Query, description = "The tag (`name` for series names)", example = "name"),
        ("valuePrefix" = Option<String>, Query, description = "Only values starting with this"),
        ("limit" = Option<i64>, Query, description = "At most this many (1 or more; default 100, at most 10000)", minimum = 1),
    ),
    responses(
        (status = 200, description = "the tag's values, sorted", body = Vec<String>),
        (status = 400, description = "a parameter is invalid or holds a NUL byte", body = crate::http::error::ErrorBody),
        crate::http::documented_refusals::QueryFailures,
    )
)]
pub(crate) async fn tag_values(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<String>>, ApiError> {
    let request = parse(raw, "valuePrefix")?;
    let tag = request
        .tag
        .filter(|tag| !tag.is_empty())
        .ok_or_else(|| ApiError::BadRequest("missing parameter: tag".into()))?;
    let values = if tag == "name" {
        query::names_with_prefix(&state.pool, &request.prefix, request.limit).await?
    } else {
        query::tag_values(&state.pool, &tag, &request.prefix, request.limit).await?
    };
    Ok(Json(values))
}
