//! Graphite's request parameters come from the query string and, for a `POST`, a form body
//! alike (graphite-web reads `request.GET` and `request.POST` together): `/render`,
//! `/metrics/find` and `/metrics/expand` read them as one list.

/// The query string and a form body as one parameter list.
pub(crate) fn join_parameters(raw_query: Option<String>, form: &[u8]) -> String {
    let mut parameters = raw_query.unwrap_or_default();
    if !form.is_empty() {
        if !parameters.is_empty() {
            parameters.push('&');
        }
        parameters.push_str(&String::from_utf8_lossy(form));
    }
    parameters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_join_the_query_string() {
        assert_eq!(join_parameters(Some("a=1".into()), b"b=2"), "a=1&b=2");
        assert_eq!(join_parameters(None, b"b=2"), "b=2");
        assert_eq!(join_parameters(Some("a=1".into()), b""), "a=1");
    }
}
