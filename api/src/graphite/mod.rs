//! The Graphite-compatible surface, what Grafana's Graphite data source talks to:
//!
//! * [`render`]: `GET|POST /render`, targets parsed and evaluated by [`functions`];
//!   [`render_image`] draws them as SVG or PNG.
//! * [`functions`]: pure: the target grammar and graphite-web's function library.
//! * [`find`]: `/metrics/find`, `/metrics/expand`, `/metrics/index.json`: the metric tree.
//! * [`tags`]: tag autocompletion (`/tags/autoComplete/tags` and `values`).
//! * [`events`]: `POST /events/`, `GET /events/get_data`.
//! * [`parameters`]: the query string and a form body as one parameter list.
//! * [`time`]: Graphite time expressions (`-1h`, `now`, `20261204`), used by every surface.

pub(crate) mod events;
pub(crate) mod find;
pub mod functions;
pub(crate) mod parameters;
pub(crate) mod render;
pub(crate) mod render_image;
pub(crate) mod tags;
pub mod time;
