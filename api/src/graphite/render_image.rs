//! `/render?format=svg` and `format=png`: the targets drawn server-side, so that
//! `<img src=".../render?target=…&format=png">` works in a wiki or an e-mail as it does with
//! Graphite. The chart (axes, grid, legend, title) is drawn by `plotters` into SVG; a PNG is
//! that SVG rasterised by `resvg`, with DejaVu Sans embedded (the image has no system fonts),
//! so both formats show the same picture.
//!
//! Graphite's parameters that shape the picture are taken: `width` and `height` (pixels,
//! 330 × 250 by default), `title`, `hideLegend`, `hideAxes`, `graphOnly` (neither), `colorList`,
//! `bgcolor`, `fgcolor`, `lineWidth`, `yMin`, `yMax`. Nulls are gaps in the line. Colours are
//! graphite-web's names or `#rrggbb` / `rrggbb`.

use crate::graphite::functions::TimeSeries;
use chrono::{DateTime, Utc};
use plotters::prelude::*;
use std::sync::OnceLock;

/// Largest width or height drawn, in pixels.
pub(crate) const MAX_SIDE_PIXELS: u32 = 4_000;

/// A picture parameter that cannot be drawn; the request's fault.
#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum ImageParameterError {
    #[error("invalid {name} {value:?}: expected {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: String,
    },
}

/// Drawing failed: never the request's fault.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the graph: {0}")]
pub(crate) struct DrawError(String);

/// How the picture looks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ImageOptions {
    pub(crate) width: u32,
    pub(crate) height: u32,
    title: Option<String>,
    hide_legend: bool,
    hide_axes: bool,
    colors: Vec<RGBColor>,
    background: RGBColor,
    foreground: RGBColor,
    line_width: u32,
    y_min: Option<f64>,
    y_max: Option<f64>,
}

/// graphite-web's default `colorList`.
const DEFAULT_COLORS: [&str; 12] = [
    "blue", "green", "red", "purple", "brown", "yellow", "aqua", "grey", "magenta", "pink", "gold",
    "rose",
];

impl Default for ImageOptions {
    fn default() -> Self {
        Self {
            width: 330,
            height: 250,
            title: None,
            hide_legend: false,
            hide_axes: false,
            colors: DEFAULT_COLORS
                .iter()
                .filter_map(|name| color(name))
                .collect(),
            background: RGBColor(0, 0, 0),
            foreground: RGBColor(255, 255, 255),
            line_width: 1,
            y_min: None,
            y_max: None,
        }
    }
}

impl ImageOptions {
    /// Takes one request parameter; returns whether it was a picture parameter.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<bool, ImageParameterError> {
        match key {
            "width" => self.width = side("width", value)?,
            "height" => self.height = side("height", value)?,
            "title" => self.title = Some(value.to_owned()).filter(|title| !title.is_empty()),
            "hideLegend" => self.hide_legend = truthy(value),
            "hideAxes" => self.hide_axes = truthy(value),
            "graphOnly" => {
                let only = truthy(value);
                self.hide_axes = only;
                self.hide_legend = only;
            }
            "colorList" => {
                self.colors = value
                    .split(',')
                    .map(|name| color(name.trim()).ok_or_else(|| invalid_color("colorList", name)))
                    .collect::<Result<_, _>>()?;
                if self.colors.is_empty() {
                    return Err(invalid_color("colorList", value));
                }
            }
            "bgcolor" => {
                self.background = color(value).ok_or_else(|| invalid_color("bgcolor", value))?
            }
            "fgcolor" => {
                self.foreground = color(value).ok_or_else(|| invalid_color("fgcolor", value))?
            }
            "lineWidth" => {
                self.line_width = value
                    .parse::<f64>()
                    .ok()
                    .filter(|width| (0.0..=20.0).contains(width))
                    .map(|width| width.round().max(1.0) as u32)
                    .ok_or_else(|| ImageParameterError::Invalid {
                        name: "lineWidth",
                        value: value.to_owned(),
                        expected: "a number of pixels from 0 to 20".into(),
                    })?
            }
            "yMin" => self.y_min = Some(finite("yMin", value)?),
            "yMax" => self.y_max = Some(finite("yMax", value)?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn side(name: &'static str, value: &str) -> Result<u32, ImageParameterError> {
    value
        .parse::<f64>()
        .ok()
        .filter(|pixels| (1.0..=f64::from(MAX_SIDE_PIXELS)).contains(pixels))
        .map(|pixels| pixels as u32)
        .ok_or_else(|| ImageParameterError::Invalid {
            name,
            value: value.to_owned(),
            expected: format!("a number of pixels from 1 to {MAX_SIDE_PIXELS}"),
        })
}

fn finite(name: &'static str, value: &str) -> Result<f64, ImageParameterError> {
    value
        .parse::<f64>()
        .ok()
        .filter(|number| number.is_finite())
        .ok_or_else(|| ImageParameterError::Invalid {
            name,
            value: value.to_owned(),
            expected: "a number".into(),
        })
}

fn truthy(value: &str) -> bool {
    matches!(value, "true" | "True" | "1")
}

fn invalid_color(name: &'static str, value: &str) -> ImageParameterError {
    ImageParameterError::Invalid {
        name,
        value: value.to_owned(),
        expected: "graphite-web colour names or #rrggbb".into(),
    }
}

/// A colour by graphite-web's name or as `#rrggbb` / `rrggbb`.
fn color(text: &str) -> Option<RGBColor> {
    let named = match text {
        "black" => (0, 0, 0),
        "white" => (255, 255, 255),
        "blue" => (100, 100, 255),
        "green" => (0, 200, 0),
        "red" => (255, 0, 0),
        "yellow" => (255, 255, 0),
        "orange" => (255, 165, 0),
        "purple" => (200, 100, 255),
        "brown" => (150, 100, 50),
        "cyan" | "aqua" => (0, 150, 150),
        "gray" | "grey" => (175, 175, 175),
        "magenta" => (255, 0, 255),
        "pink" => (255, 100, 100),
        "gold" => (200, 200, 0),
        "rose" => (200, 150, 200),
        "darkblue" => (0, 0, 255),
        "darkgreen" => (0, 255, 0),
        "darkred" => (200, 00, 50),
        "darkgray" | "darkgrey" => (111, 111, 111),
        _ => {
            let hex = text.strip_prefix('#').unwrap_or(text);
            if hex.len() != 6 || !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
                return None;
            }
            let channel = |at: usize| u8::from_str_radix(&hex[at..at + 2], 16).ok();
            return Some(RGBColor(channel(0)?, channel(2)?, channel(4)?));
        }
    };
    Some(RGBColor(named.0, named.1, named.2))
}

/// The series drawn as an SVG document of `options.width` × `options.height` over
/// `[from, until)`.
pub(crate) fn svg(
    series: &[TimeSeries],
    from: i64,
    until: i64,
    options: &ImageOptions,
) -> Result<String, DrawError> {
    let mut document = String::new();
    draw(&mut document, series, from, until, options)
        .map_err(|error| DrawError(error.to_string()))?;
    Ok(document)
}

fn draw(
    document: &mut String,
    series: &[TimeSeries],
    from: i64,
    until: i64,
    options: &ImageOptions,
) -> Result<(), Box<dyn std::error::Error>> {
    let root =
        SVGBackend::with_string(document, (options.width, options.height)).into_drawing_area();
    root.fill(&options.background)?;
    let (low, high) = value_range(series, options);
    let text_style = ("sans-serif", 11).into_font().color(&options.foreground);
    let mut builder = ChartBuilder::on(&root);
    builder.margin(6);
    if let Some(title) = &options.title {
        builder.caption(title, text_style.clone());
    }
    if !options.hide_axes {
        builder.x_label_area_size(20).y_label_area_size(44);
    }
    let (start, end) = (instant(from), instant(until.max(from + 1)));
    let mut chart = builder.build_cartesian_2d(start..end, low..high)?;
    if !options.hide_axes {
        let span = until - from;
        chart
            .configure_mesh()
            .light_line_style(options.foreground.mix(0.08))
            .bold_line_style(options.foreground.mix(0.2))
            .axis_style(options.foreground)
            .label_style(text_style.clone())
            .x_labels(((options.width / 80).max(2)) as usize)
            .y_labels(((options.height / 40).max(2)) as usize)
            .x_label_formatter(&|time| time_label(time, span))
            .y_label_formatter(&|value| value_label(*value))
            .draw()?;
    }
    for (index, one) in series.iter().enumerate() {
        let color = options.colors[index % options.colors.len()];
        let style = ShapeStyle::from(&color).stroke_width(options.line_width);
        let mut labelled = false;
        for segment in segments(one) {
            let points = segment
                .into_iter()
                .map(|(time, value)| (instant(time), value));
            // A point between two nulls has no line to be part of: it is drawn as a dot.
            let drawn = if let [(time, value)] = points.clone().collect::<Vec<_>>()[..] {
                chart.draw_series(std::iter::once(Circle::new(
                    (time, value),
                    options.line_width + 1,
                    style.filled(),
                )))?
            } else {
                chart.draw_series(LineSeries::new(points, style))?
            };
            if !labelled {
                labelled = true;
                drawn.label(one.name.clone()).legend(move |(x, y)| {
                    PathElement::new(
                        vec![(x, y), (x + 14, y)],
                        ShapeStyle::from(&color).stroke_width(2),
                    )
                });
            }
        }
    }
    if !options.hide_legend && !series.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(options.background.mix(0.8))
            .border_style(options.foreground.mix(0.4))
            .label_font(text_style)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// The runs of consecutive non-null points of a series: a null is a gap in the line.
fn segments(series: &TimeSeries) -> Vec<Vec<(i64, f64)>> {
    let mut runs = Vec::new();
    let mut current = Vec::new();
    for (index, value) in series.values.iter().enumerate() {
        match value.filter(|value| value.is_finite()) {
            Some(value) => current.push((series.start + index as i64 * series.step, value)),
            None if !current.is_empty() => runs.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// The y range: `yMin`/`yMax` when given, else the values' range with a margin (a flat or
/// empty graph gets a range around its value).
fn value_range(series: &[TimeSeries], options: &ImageOptions) -> (f64, f64) {
    let values = series
        .iter()
        .flat_map(|one| one.values.iter().flatten())
        .filter(|value| value.is_finite());
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), value| {
        (low.min(*value), high.max(*value))
    });
    let (low, high) = if low > high { (0.0, 1.0) } else { (low, high) };
    let low = options.y_min.unwrap_or(if low >= 0.0 { 0.0 } else { low });
    let high = options.y_max.unwrap_or(high);
    if high > low {
        let margin = if options.y_max.is_some() {
            0.0
        } else {
            (high - low) * 0.05
        };
        (low, high + margin)
    } else {
        (low - 1.0, low + 1.0)
    }
}

/// A unix time as the chart's x coordinate (times are checked to be in range by the request).
fn instant(unix_seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix_seconds, 0).unwrap_or_default()
}

fn time_label(time: &DateTime<Utc>, span_seconds: i64) -> String {
    let format = if span_seconds <= 2 * 86_400 {
        "%H:%M"
    } else if span_seconds <= 370 * 86_400 {
        "%m-%d"
    } else {
        "%Y-%m"
    };
    time.format(format).to_string()
}

/// Axis values the way graphite-web shortens them: 1.2K, 3.4M.
fn value_label(value: f64) -> String {
    let magnitude = value.abs();
    let (scaled, suffix) = if magnitude >= 1e12 {
        (value / 1e12, "T")
    } else if magnitude >= 1e9 {
        (value / 1e9, "G")
    } else if magnitude >= 1e6 {
        (value / 1e6, "M")
    } else if magnitude >= 1e3 {
        (value / 1e3, "K")
    } else {
        (value, "")
    };
    let text = format!("{scaled:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{suffix}")
}

/// The PNG of an SVG document drawn by [`svg`], rasterised at its own size.
pub(crate) fn png(document: &str, options: &ImageOptions) -> Result<Vec<u8>, DrawError> {
    let tree = resvg::usvg::Tree::from_str(document, font_options())
        .map_err(|error| DrawError(error.to_string()))?;
    let mut pixmap = resvg::tiny_skia::Pixmap::new(options.width, options.height)
        .ok_or_else(|| DrawError("empty picture".into()))?;
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|error| DrawError(error.to_string()))
}

/// Parsing options with the embedded font as every family, loaded once per process.
fn font_options() -> &'static resvg::usvg::Options<'static> {
    static OPTIONS: OnceLock<resvg::usvg::Options<'static>> = OnceLock::new();
    OPTIONS.get_or_init(|| {
        let mut options = resvg::usvg::Options::default();
        let fonts = options.fontdb_mut();
        fonts.load_font_data(dejavu::sans::regular().to_vec());
        fonts.set_sans_serif_family("DejaVu Sans");
        options.font_family = "DejaVu Sans".into();
        options
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, values: &[Option<f64>]) -> TimeSeries {
        TimeSeries::new(name, 1_700_000_000, 60, values.to_vec())
    }

    #[test]
    fn parameters_are_taken_or_refused() {
        let mut options = ImageOptions::default();
        assert_eq!(options.set("width", "800"), Ok(true));
        assert_eq!(options.set("colorList", "red,#00ff00,0000ff"), Ok(true));
        assert_eq!(options.set("target", "a"), Ok(false));
        assert_eq!(options.width, 800);
        assert_eq!(
            options.colors,
            vec![
                RGBColor(255, 0, 0),
                RGBColor(0, 255, 0),
                RGBColor(0, 0, 255)
            ]
        );
        for (key, value) in [
            ("width", "0"),
            ("width", "99999"),
            ("height", "tall"),
            ("colorList", "red,nope"),
            ("bgcolor", "#12345"),
            ("yMax", "NaN"),
            ("lineWidth", "-1"),
        ] {
            let error = ImageOptions::default().set(key, value).unwrap_err();
            assert!(error.to_string().contains(key), "{key}={value}: {error}");
        }
    }

    #[test]
    fn nulls_split_a_line() {
        let one = series("a", &[Some(1.0), None, Some(2.0), Some(3.0), None]);
        let starts: Vec<Vec<i64>> = segments(&one)
            .iter()
            .map(|run| run.iter().map(|(time, _)| *time).collect())
            .collect();
        assert_eq!(
            starts,
            vec![vec![1_700_000_000], vec![1_700_000_120, 1_700_000_180]]
        );
    }

    #[test]
    fn svg_and_png_have_the_requested_size() {
        let mut options = ImageOptions::default();
        options.set("width", "400").unwrap();
        options.set("height", "200").unwrap();
        options.set("title", "requests").unwrap();
        let drawn = [series(
            "api.requests",
            &[Some(1.0), Some(4.0), None, Some(2.0)],
        )];
        let document = svg(&drawn, 1_700_000_000, 1_700_000_240, &options).unwrap();
        assert!(
            document.starts_with("<svg width=\"400\" height=\"200\""),
            "{document}"
        );
        // plotters writes each text on a line of its own.
        assert!(
            document.contains(">\nrequests\n</text>"),
            "title missing: {document}"
        );
        assert!(
            document.contains(">\napi.requests\n</text>"),
            "legend missing: {document}"
        );
        let image = png(&document, &options).unwrap();
        assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR: width and height, big-endian, after the signature and the chunk header.
        assert_eq!(u32::from_be_bytes(image[16..20].try_into().unwrap()), 400);
        assert_eq!(u32::from_be_bytes(image[20..24].try_into().unwrap()), 200);
    }

    #[test]
    fn values_are_labelled_short() {
        assert_eq!(value_label(1_500.0), "1.5K");
        assert_eq!(value_label(2_000_000.0), "2M");
        assert_eq!(value_label(0.25), "0.25");
        assert_eq!(value_label(-3.0), "-3");
    }
}
