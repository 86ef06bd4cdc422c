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
//!
//! Each series may carry drawing options of its own, set by the Graph functions
//! ([`Drawing`](crate::graphite::functions::Drawing)): its colour, opacity, line width and
//! dashes; a second y axis on the right; stacked series filled down to the one below them;
//! values drawn as vertical lines (`drawAsInfinite`, `verticalLine`); and invisible series
//! (the lower edge of `areaBetween`).

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
    // Series marked `secondYAxis` are drawn against their own y range, labelled on the right.
    let (first_axis, second_axis): (Vec<&TimeSeries>, Vec<&TimeSeries>) =
        series.iter().partition(|one| !one.drawing.second_y_axis);
    let (low, high) = value_range(&first_axis, options);
    let (second_low, second_high) = value_range(&second_axis, &ImageOptions::default());
    let text_style = ("sans-serif", 11).into_font().color(&options.foreground);
    let mut builder = ChartBuilder::on(&root);
    builder.margin(6);
    if let Some(title) = &options.title {
        builder.caption(title, text_style.clone());
    }
    if !options.hide_axes {
        builder.x_label_area_size(20).y_label_area_size(44);
        if !second_axis.is_empty() {
            builder.right_y_label_area_size(44);
        }
    }
    let (start, end) = (instant(from), instant(until.max(from + 1)));
    let mut chart = builder
        .build_cartesian_2d(start..end, low..high)?
        .set_secondary_coord(start..end, second_low..second_high);
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
        if !second_axis.is_empty() {
            chart
                .configure_secondary_axes()
                .axis_style(options.foreground)
                .label_style(text_style.clone())
                .y_labels(((options.height / 40).max(2)) as usize)
                .y_label_formatter(&|value| value_label(*value))
                .draw()?;
        }
    }
    // The top of the previous stacked series on each axis: a stacked series is filled down
    // to it (graphite-web's stacked area), the first one down to zero.
    let mut stack_tops: [Option<&TimeSeries>; 2] = [None, None];
    for (index, one) in series.iter().enumerate() {
        let drawing = &one.drawing;
        let color = drawing
            .color
            .as_deref()
            .and_then(self::color)
            .unwrap_or(options.colors[index % options.colors.len()]);
        let color = color.mix(drawing.alpha.unwrap_or(1.0));
        let line_width = drawing
            .line_width
            .map_or(options.line_width, |width| width.round().max(1.0) as u32);
        let style = ShapeStyle::from(&color).stroke_width(line_width);
        let axis = usize::from(drawing.second_y_axis);
        let below = stack_tops[axis];
        if drawing.stacked {
            stack_tops[axis] = Some(one);
        }
        if drawing.invisible {
            continue;
        }
        // Each element goes to the series' axis; the first one drawn carries the legend entry.
        let mut labelled = false;
        macro_rules! draw {
            ($elements:expr) => {{
                let drawn = if drawing.second_y_axis {
                    chart.draw_secondary_series($elements)?
                } else {
                    chart.draw_series($elements)?
                };
                if !std::mem::replace(&mut labelled, true) {
                    drawn.label(one.name.clone()).legend(move |(x, y)| {
                        PathElement::new(
                            vec![(x, y), (x + 14, y)],
                            ShapeStyle::from(&color).stroke_width(2),
                        )
                    });
                }
            }};
        }
        if drawing.draw_as_infinite {
            // A vertical line across the graph at every non-zero value.
            let (bottom, top) = if drawing.second_y_axis {
                (second_low, second_high)
            } else {
                (low, high)
            };
            let lines: Vec<PathElement<(DateTime<Utc>, f64)>> = segments(one)
                .into_iter()
                .flatten()
                .filter(|(_, value)| *value != 0.0)
                .map(|(time, _)| {
                    PathElement::new(vec![(instant(time), bottom), (instant(time), top)], style)
                })
                .collect();
            draw!(lines);
        } else {
            for segment in segments(one) {
                let points: Vec<(DateTime<Utc>, f64)> = segment
                    .iter()
                    .map(|(time, value)| (instant(*time), *value))
                    .collect();
                if drawing.stacked {
                    // The area between this segment and what lies below it.
                    let mut outline = points.clone();
                    for (time, _) in segment.iter().rev() {
                        let bottom = below.map_or(0.0, |below| value_at(below, *time));
                        outline.push((instant(*time), bottom));
                    }
                    draw!(std::iter::once(Polygon::new(
                        outline,
                        color.mix(0.5).filled()
                    )));
                }
                // A point between two nulls has no line to be part of: it is drawn as a dot.
                if let [point] = points[..] {
                    draw!(std::iter::once(Circle::new(
                        point,
                        line_width + 1,
                        style.filled()
                    )));
                } else if let Some(dash) = drawing.dash_length {
                    let dash = dash.round().max(1.0) as u32;
                    draw!(std::iter::once(plotters::element::DashedPathElement::new(
                        points, dash, dash, style
                    )));
                } else {
                    draw!(std::iter::once(PathElement::new(points, style)));
                }
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

/// The value of `series` at `time` (0 where it has none): the bottom of the area of a series
/// stacked on it.
fn value_at(series: &TimeSeries, time: i64) -> f64 {
    let step = series.step.max(1);
    usize::try_from((time - series.start).div_euclid(step))
        .ok()
        .and_then(|index| series.values.get(index).copied().flatten())
        .filter(|value| value.is_finite())
        .unwrap_or(0.0)
}

/// Whether `text` is a colour `color(…)`, `threshold(…)` and `verticalLine(…)` can draw.
pub(crate) fn is_color(text: &str) -> bool {
    color(text).is_some()
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
fn value_range(series: &[&TimeSeries], options: &ImageOptions) -> (f64, f64) {
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
    use crate::graphite::functions::Drawing;

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

    /// The `points` of every polyline drawn in `stroke` (plotters writes `#RRGGBB`).
    fn polylines(document: &str, stroke: &str) -> Vec<Vec<(f64, f64)>> {
        document
            .split("<polyline ")
            .skip(1)
            .filter(|element| element.contains(&format!("stroke=\"{stroke}\"")))
            .map(|element| {
                let points = element
                    .split("points=\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .unwrap_or_default();
                points
                    .split_whitespace()
                    .filter_map(|pair| {
                        let (x, y) = pair.split_once(',')?;
                        Some((x.parse().ok()?, y.parse().ok()?))
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn graph_functions_change_the_picture() {
        let options = ImageOptions::default();
        let (from, until) = (1_700_000_000, 1_700_000_600);
        let values: Vec<Option<f64>> = (0..10).map(|index| Some(f64::from(index))).collect();
        let mut plain = TimeSeries::new("plain", from, 60, values.clone());
        plain.drawing.color = Some("red".into());
        let plain_document = svg(&[plain.clone()], from, until, &options).unwrap();
        let plain_lines = polylines(&plain_document, "#FF0000");
        // The line and its legend mark, both solid and one pixel wide.
        assert_eq!(plain_lines.len(), 2, "{plain_document}");

        // color, alpha and lineWidth: the stroke, its opacity and width.
        let mut styled = plain.clone();
        styled.drawing.color = Some("#00ff00".into());
        styled.drawing.alpha = Some(0.5);
        styled.drawing.line_width = Some(3.0);
        let document = svg(&[styled], from, until, &options).unwrap();
        assert!(
            document.contains("opacity=\"0.5\" stroke=\"#00FF00\" stroke-width=\"3\""),
            "{document}"
        );

        // dashed: the line is drawn as many short dashes.
        let mut dashed = plain.clone();
        dashed.drawing.dash_length = Some(5.0);
        let document = svg(&[dashed], from, until, &options).unwrap();
        assert!(polylines(&document, "#FF0000").len() > 10, "{document}");

        // secondYAxis: labels on the right for the second series' range, which no longer
        // widens the left axis.
        let mut large = TimeSeries::new("large", from, 60, vec![Some(1_000.0), Some(3_000.0)]);
        large.drawing.second_y_axis = true;
        let document = svg(&[plain.clone(), large.clone()], from, until, &options).unwrap();
        assert!(
            document.contains(">\n3K\n</text>") || document.contains(">\n2.5K\n</text>"),
            "{document}"
        );
        let one_axis = svg(
            &[
                plain.clone(),
                TimeSeries {
                    drawing: Drawing::default(),
                    ..large
                },
            ],
            from,
            until,
            &options,
        )
        .unwrap();
        let lowest_point = |document: &str| {
            polylines(document, "#FF0000")[0]
                .iter()
                .map(|(_, y)| *y)
                .fold(f64::INFINITY, f64::min)
        };
        // On its own axis the small series reaches near the top; sharing one with thousands,
        // it stays flat near the bottom.
        assert!(
            lowest_point(&document) + 100.0 < lowest_point(&one_axis),
            "{document}"
        );

        // stacked: filled down to the series below.
        let mut stacked = plain.clone();
        stacked.drawing.stacked = true;
        let document = svg(&[stacked], from, until, &options).unwrap();
        assert!(document.contains("<polygon"), "{document}");

        // drawAsInfinite: vertical lines at the non-zero values.
        let mut infinite = plain.clone();
        infinite.drawing.draw_as_infinite = true;
        let document = svg(&[infinite], from, until, &options).unwrap();
        let vertical = polylines(&document, "#FF0000")
            .into_iter()
            .filter(|line| line.len() == 2 && line[0].0 == line[1].0)
            .count();
        assert_eq!(vertical, 9, "{document}");

        // invisible (areaBetween's lower series): not drawn at all.
        let mut invisible = plain;
        invisible.drawing.invisible = true;
        let document = svg(&[invisible], from, until, &options).unwrap();
        assert!(polylines(&document, "#FF0000").is_empty(), "{document}");
    }

    #[test]
    fn values_are_labelled_short() {
        assert_eq!(value_label(1_500.0), "1.5K");
        assert_eq!(value_label(2_000_000.0), "2M");
        assert_eq!(value_label(0.25), "0.25");
        assert_eq!(value_label(-3.0), "-3");
    }
}
