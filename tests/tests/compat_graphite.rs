//! Graphite's functions held to graphite-web itself: the same generated data is written as
//! whisper files for graphite-web 1.1.10 (installed from PyPI by tests/compat/setup.sh) and
//! stored in Abacus as Graphite points, then every target below is evaluated by graphite-web's
//! own evaluator (tests/compat/graphite_web.py, in-process, no web server) and by Abacus's
//! `/render`, and the answers compared: the number of series, their names, every timestamp and
//! every value (1e-9 relative; null only where graphite has null), and each series' tags.
//!
//! The data comes from a seeded generator, so a failure reproduces; set
//! `ABACUS_COMPAT_SEED` to try other data, and `ABACUS_COMPAT_SHIFT` (seconds) to end the
//! range that much earlier (other alignments with maxDataPoints' widened steps). It has gaps,
//! negative values, zeros (for the divisions), a counter that resets and wraps, and a sparse
//! series; tagged series, in graphite-web's tag database and whisper's `_tagged` tree; and
//! Graphite events (several in one second, tags in common) for `events(...)`, posted to
//! Abacus's `/events/` and stored in graphite-web's own events database.
//!
//! Every name in graphite-web's `SeriesFunctions()` must be in Abacus's `/functions`, and every
//! function there must be called by at least one compared target.

use abacus_proto::storage_schema::{Aggregation, AggregationRuleSetting};
use abacus_proto::v1::{FlushBatch, RawPoint, Tag};
use abacus_tests::{start_aggregator, Pipeline, PipelineSettings};
use prost::Message;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const STEP: i64 = 10;
/// Hours of data before the end of the range.
const HOURS: i64 = 4;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the repository")
        .to_path_buf()
}

/// xorshift64*: a few lines of a well-known generator, so the data depends on the seed only.
struct Generator(u64);

impl Generator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The generated series: path and `(unix seconds, value)` points on the 10-second grid.
fn generate(seed: u64, end: i64) -> Vec<(String, Vec<(i64, f64)>)> {
    let mut random = Generator(seed.max(1));
    let start = end - HOURS * 3600;
    let times: Vec<i64> = (0..HOURS * 3600 / STEP)
        .map(|index| start + STEP + index * STEP)
        .collect();
    let mut series = Vec::new();
    for (path, gaps) in [
        ("diff.a.cpu", 0.05),
        ("diff.b.cpu", 0.2),
        ("diff.c.cpu", 0.0),
    ] {
        let mut level = random.unit() * 100.0 - 50.0;
        let mut points = Vec::new();
        for &time in &times {
            level += random.unit() * 10.0 - 5.0;
            if random.unit() >= gaps {
                // Two decimals, as a client would send.
                points.push((time, (level * 100.0).round() / 100.0));
            }
        }
        series.push((path.to_owned(), points));
    }
    for path in ["diff.a.mem", "diff.b.mem"] {
        let mut points = Vec::new();
        for &time in &times {
            if random.unit() < 0.1 {
                continue;
            }
            // A zero now and then, for the divisions.
            let value = if random.unit() < 0.1 {
                0.0
            } else {
                (random.unit() * 1000.0).round()
            };
            points.push((time, value));
        }
        series.push((path.to_owned(), points));
    }
    // A counter that grows, resets to 0 now and then, and wraps at 2^16 once.
    let mut counter = 0.0;
    let mut points = Vec::new();
    for &time in &times {
        counter += (random.unit() * 50.0).round();
        if random.unit() < 0.01 {
            counter = 0.0;
        }
        if counter >= 65_536.0 {
            counter -= 65_536.0;
        }
        // No gaps: graphite-web's `maxValue` handling fails on a null (a TypeError), so
        // the wrap is compared on a counter that has none.
        points.push((time, counter));
    }
    series.push(("diff.requests.count".to_owned(), points));
    // A sparse series: a point about every five minutes.
    let mut sparse = Vec::new();
    for &time in &times {
        if random.unit() < 1.0 / 30.0 {
            sparse.push((time, (random.unit() * 10.0).round()));
        }
    }
    series.push(("diff.sparse".to_owned(), sparse));
    // Tagged series (tags sorted, as both sides name them), outside `diff.` so that no glob
    // above reaches them: graphite-web finds them only through its tag database.
    for path in [
        "tagged.cpu;dc=east;host=a",
        "tagged.cpu;dc=east;host=b",
        "tagged.cpu;dc=west;host=c",
        "tagged.mem;dc=east;host=a",
    ] {
        let mut level = random.unit() * 100.0;
        let mut points = Vec::new();
        for &time in &times {
            level += random.unit() * 4.0 - 2.0;
            if random.unit() >= 0.05 {
                points.push((time, (level * 100.0).round() / 100.0));
            }
        }
        series.push((path.to_owned(), points));
    }
    series
}

/// A path as the wire carries it: `a.b;k=v;k2=v2` → the name `a.b` and its tags.
fn name_and_tags(path: &str) -> (String, Vec<Tag>) {
    let mut parts = path.split(';');
    let name = parts.next().unwrap_or_default().to_owned();
    let tags = parts
        .filter_map(|tag| tag.split_once('='))
        .map(|(key, value)| Tag {
            key: key.to_owned(),
            value: value.to_owned(),
        })
        .collect();
    (name, tags)
}

/// Graphite events: `(when, what, tags)` at random times with a fraction of a second, in the
/// three hours before `end` but never in the last second of a compared range (graphite-web
/// counts an event at its `until` into a slot past the end of its list and fails).
fn generate_events(seed: u64, end: i64) -> Vec<(f64, String, String)> {
    let mut random = Generator(seed.max(1) ^ 0x5eed_e7e7);
    let tag_sets = [
        "deploy web",
        "deploy db",
        "alert",
        "deploy web canary",
        "db",
    ];
    let mut events: Vec<(f64, String, String)> = Vec::new();
    while events.len() < 60 {
        let when = match events.last() {
            // Now and then a second event in the same second.
            Some((last, _, _)) if random.unit() < 0.2 => last.floor() + random.unit() * 0.999,
            _ => (end - 3 * 3600) as f64 + 1.0 + random.unit() * (3 * 3600 - 2) as f64,
        };
        let second = when.floor() as i64;
        if [end, end - 3, end - 21].contains(&second) {
            continue;
        }
        let tags = tag_sets[(random.next() % tag_sets.len() as u64) as usize];
        events.push((
            (when * 1000.0).floor() / 1000.0,
            format!("event {}", events.len()),
            tags.to_owned(),
        ));
    }
    events
}

/// Every target compared: each function Abacus has, nested calls and the glob forms.
fn targets() -> Vec<&'static str> {
    vec![
        // Plain paths and globs.
        "diff.a.cpu",
        "diff.*.cpu",
        "diff.{a,b}.mem",
        "diff.[ab].cpu",
        "diff.?.cpu",
        "diff.a.*",
        "diff.*",
        "diff.requests.count",
        "diff.sparse",
        // Combine.
        "sumSeries(diff.*.cpu)",
        "sum(diff.*.mem)",
        "averageSeries(diff.*.cpu)",
        "avg(diff.*.cpu)",
        "minSeries(diff.*.cpu)",
        "maxSeries(diff.*.cpu)",
        "diffSeries(diff.a.cpu,diff.b.cpu)",
        "multiplySeries(diff.a.cpu,diff.c.cpu)",
        "aggregate(diff.*.cpu,'sum')",
        "aggregate(diff.*.cpu,'average')",
        "aggregate(diff.*.cpu,'max')",
        "divideSeries(diff.a.cpu,diff.a.mem)",
        "divideSeries(diff.*.cpu,diff.b.mem)",
        "asPercent(diff.a.mem,diff.b.mem)",
        "asPercent(diff.*.mem)",
        "asPercent(diff.*.mem,1000)",
        "percentileOfSeries(diff.*.cpu,50)",
        "percentileOfSeries(diff.*.cpu,90,true)",
        "groupByNode(diff.*.cpu,1,'sumSeries')",
        "groupByNode(diff.*.*,2,'averageSeries')",
        "groupByNodes(diff.*.*,'sumSeries',1,2)",
        "sumSeriesWithWildcards(diff.*.cpu,1)",
        "averageSeriesWithWildcards(diff.*.*,1)",
        // Combine (issue 16).
        "countSeries(diff.*.cpu)",
        "countSeries()",
        "rangeOfSeries(diff.*.cpu)",
        "stddevSeries(diff.*.cpu)",
        "powSeries(diff.a.mem,scale(diff.c.cpu,0.01))",
        "aggregateWithWildcards(diff.*.*,'max',1)",
        "aggregateWithWildcards(diff.*.cpu,'avg',1)",
        "multiplySeriesWithWildcards(diff.*.mem,1)",
        "sumSeriesLists(diff.[ab].cpu,diff.[ab].mem)",
        "diffSeriesLists(diff.[ab].cpu,diff.[ab].mem)",
        "multiplySeriesLists(diff.[ab].cpu,diff.[ab].mem)",
        "divideSeriesLists(diff.[ab].cpu,diff.[ab].mem)",
        "aggregateSeriesLists(diff.[ab].cpu,diff.[ab].mem,'max')",
        "weightedAverage(diff.[ab].cpu,diff.[ab].mem,1)",
        "group(diff.a.cpu,diff.*.mem)",
        "reduceSeries(mapSeries(diff.[ab].*,1),'asPercent',2,'mem','cpu')",
        "reduce(map(diff.[ab].*,1),'diffSeries',2,'cpu','mem')",
        "applyByNode(diff.*.mem,1,'divideSeries(%.mem,%.cpu)','% ratio')",
        "applyByNode(diff.*.*,1,'sumSeries(%.*)')",
        "pct(diff.*.mem)",
        // Transform.
        "scale(diff.a.cpu,2.5)",
        "offset(diff.a.cpu,-10)",
        "absolute(diff.a.cpu)",
        "integral(diff.sparse)",
        "derivative(diff.a.cpu)",
        "nonNegativeDerivative(diff.requests.count)",
        "nonNegativeDerivative(diff.b.cpu)",
        "nonNegativeDerivative(diff.requests.count,65536)",
        "perSecond(diff.requests.count)",
        "perSecond(diff.requests.count,65536)",
        "keepLastValue(diff.b.cpu)",
        "keepLastValue(diff.sparse,3)",
        "transformNull(diff.b.cpu)",
        "transformNull(diff.b.cpu,-1)",
        "summarize(diff.a.cpu,'5min')",
        "summarize(diff.a.cpu,'5min','max')",
        "summarize(diff.requests.count,'1h','sum',true)",
        "summarize(diff.a.mem,'15min','avg',false)",
        "hitcount(diff.sparse,'10min')",
        "hitcount(diff.sparse,'1h',true)",
        "timeShift(diff.a.cpu,'1h')",
        "timeShift(diff.a.cpu,'-10min')",
        "timeShift(sumSeries(diff.*.cpu),'30min')",
        "movingAverage(diff.a.cpu,5)",
        "movingAverage(diff.b.cpu,'1min')",
        "movingAverage(diff.sparse,10)",
        "nPercentile(diff.a.cpu,50)",
        "nPercentile(diff.a.mem,95)",
        // Filter and sort.
        "highestCurrent(diff.*.cpu,2)",
        "highestAverage(diff.*.cpu,1)",
        "highestMax(diff.*.*,2)",
        "lowestCurrent(diff.*.cpu,1)",
        "highest(diff.*.cpu,2)",
        "highest(diff.*.cpu,1,'average')",
        "lowest(diff.*.cpu,2,'max')",
        "limit(diff.*,3)",
        "exclude(diff.*.*,'mem')",
        "grep(diff.*.*,'cpu')",
        "removeBelowValue(diff.a.cpu,0)",
        "removeAboveValue(diff.a.cpu,10)",
        "sortByMaxima(diff.*.cpu)",
        "sortByName(diff.*.*)",
        "sortByName(diff.*.*,true,true)",
        // Filter Series, Filter Data and Sorting (issue 16).
        "averageAbove(diff.*.cpu,0)",
        "averageBelow(diff.*,10)",
        "currentAbove(diff.*.cpu,0)",
        "currentBelow(diff.*.*,100)",
        "maximumAbove(diff.*.*,50)",
        "maximumBelow(diff.*.cpu,50)",
        "minimumAbove(diff.*.cpu,-20)",
        "minimumBelow(diff.*,0)",
        "filterSeries(diff.*.*,'max','>=',100)",
        "filterSeries(diff.*.cpu,'last','!=',0)",
        "lowestAverage(diff.*.cpu,2)",
        "mostDeviant(diff.*.*,2)",
        "averageOutsidePercentile(diff.*.*,80)",
        "removeBetweenPercentile(transformNull(diff.*.*),70)",
        "removeEmptySeries(diff.*)",
        "removeEmptySeries(diff.*,0.5)",
        "unique(diff.a.cpu,diff.*.cpu)",
        "useSeriesAbove(transformNull(diff.*.cpu),-1000,'cpu','mem')",
        "removeAbovePercentile(diff.a.cpu,80)",
        "removeBelowPercentile(diff.b.mem,20)",
        "sortBy(diff.*.*)",
        "sortBy(diff.*.cpu,'max',true)",
        "sortByTotal(diff.*.mem)",
        "sortByMinima(diff.*)",
        // Alias.
        "alias(diff.a.cpu,'cpu of a')",
        "aliasByNode(diff.*.cpu,1)",
        "aliasByNode(diff.*.*,1,2)",
        "aliasByMetric(diff.*.mem)",
        "aliasByNode(sumSeries(diff.*.cpu),0)",
        // Alias (issue 16).
        r"aliasSub(diff.*.cpu,'^diff\.(\w+)\.cpu$','\1 cpu')",
        "aliasQuery(diff.[ab].cpu,'cpu','mem','%d mem')",
        "aliasQuery(diff.c.cpu,'cpu','mem','%d mem')",
        "legendValue(diff.*.cpu,'avg','max')",
        "legendValue(diff.a.mem,'sum','si')",
        "upper(diff.a.cpu)",
        "lower(upper(diff.*.mem),0,-1)",
        // Special.
        "consolidateBy(diff.a.cpu,'max')",
        "constantLine(42)",
        "constantLine(-1.5)",
        "sumSeries(constantLine(1),constantLine(2))",
        // Transform (issue 16).
        "add(diff.a.cpu,1.5)",
        "exp(scale(diff.c.cpu,0.01))",
        "invert(diff.a.mem)",
        "isNonNull(diff.b.cpu)",
        "log(diff.a.mem)",
        "log(diff.a.mem,2)",
        "logit(scale(diff.a.mem,0.001))",
        "sigmoid(scale(diff.a.cpu,0.1))",
        "minMax(diff.b.cpu)",
        "offsetToZero(diff.a.cpu)",
        "pow(diff.a.cpu,2)",
        "pow(diff.a.cpu,0.5)",
        "squareRoot(diff.a.mem)",
        "round(diff.a.cpu)",
        "round(diff.a.cpu,1)",
        "scaleToSeconds(diff.requests.count,60)",
        "delay(diff.a.cpu,3)",
        "delay(diff.a.cpu,-2)",
        "interpolate(diff.b.cpu)",
        "interpolate(diff.sparse,10)",
        "integralByInterval(diff.a.cpu,'30min')",
        "integralByInterval(diff.sparse,'1h')",
        "compressPeriodicGaps(diff.sparse)",
        "compressPeriodicGaps(diff.a.cpu)",
        "timeStack(diff.a.cpu,'10min',0,3)",
        "timeStack(sumSeries(diff.*.cpu),'30min',1,3)",
        "smartSummarize(diff.a.cpu,'5min')",
        "smartSummarize(diff.b.cpu,'15min','max')",
        "timeFunction('clock',30)",
        "time('clock')",
        "sin('wave',2,120)",
        "sinFunction('wave')",
        // Random in graphite-web: compared by shape (is_random).
        "randomWalk('walk',30)",
        "randomWalkFunction('walk')",
        // Calculate (issue 16).
        "movingSum(diff.a.cpu,5)",
        "movingMin(diff.b.cpu,'1min')",
        "movingMax(diff.a.cpu,3)",
        "movingMedian(diff.a.cpu,4)",
        "movingWindow(diff.a.cpu,5,'sum')",
        "movingWindow(diff.b.cpu,'2min','max',0.5)",
        "movingSum(derivative(diff.a.cpu),5)",
        "exponentialMovingAverage(diff.a.cpu,10)",
        "exponentialMovingAverage(diff.b.cpu,'1min')",
        "holtWintersForecast(diff.c.cpu,'1h','30min')",
        "holtWintersConfidenceBands(diff.c.cpu,3,'1h','30min')",
        "holtWintersConfidenceArea(diff.c.cpu,3,'1h','30min')",
        "holtWintersAberration(diff.c.cpu,2,'1h','30min')",
        "aliasByNode(holtWintersForecast(diff.*.cpu,'1h'),1)",
        "linearRegression(diff.a.cpu)",
        "stdev(diff.a.cpu,5)",
        "stdev(diff.b.cpu,10,0.5)",
        "aggregateLine(diff.a.cpu)",
        "aggregateLine(diff.a.cpu,'max',true)",
        "identity('x')",
        // Graph (issue 16): the JSON shows only their names and values.
        "color(diff.a.cpu,'red')",
        "alpha(diff.a.cpu,0.5)",
        "dashed(diff.a.cpu)",
        "lineWidth(diff.a.cpu,3)",
        "secondYAxis(diff.b.cpu)",
        "stacked(diff.*.cpu)",
        "sumSeries(stacked(diff.*.cpu))",
        "drawAsInfinite(isNonNull(diff.sparse))",
        "areaBetween(diff.{a,b}.cpu)",
        "threshold(10,'limit','red')",
        "threshold(5)",
        // Special (issue 16).
        "changed(diff.sparse)",
        "cumulative(diff.a.cpu)",
        "fallbackSeries(diff.nothing,diff.a.cpu)",
        "fallbackSeries(diff.a.cpu,diff.b.cpu)",
        "xFilesFactor(diff.a.cpu,0.5)",
        "setXFilesFactor(diff.b.cpu,0)",
        "substr(diff.a.cpu,1)",
        "substr(scale(diff.a.cpu,2),1,2)",
        "cactiStyle(diff.*.cpu)",
        "cactiStyle(diff.*.mem,'si','B')",
        "seriesByTag('name=tagged.cpu')",
        "seriesByTag('name=tagged.cpu','dc=east')",
        "seriesByTag('name=~tagged.*','host!=a')",
        "seriesByTag('dc=~ea.*','name!=tagged.mem')",
        "sumSeries(seriesByTag('name=tagged.cpu'))",
        "groupByTags(seriesByTag('name=tagged.cpu'),'sum','dc')",
        "groupByTags(seriesByTag('dc=east'),'max','name')",
        "seriesByTag('name=tagged.cpu')|groupByTags('average','dc','host')",
        "aliasByTags(seriesByTag('name=tagged.cpu'),'host','dc')",
        "aliasByTags(seriesByTag('dc=east'),'name',1)",
        "events('*')",
        "events('deploy')",
        "events(\"deploy\",\"web\")",
        "events('db')",
        "events('nothing')",
        "drawAsInfinite(events('alert'))",
        // A sum of counts still sums under maxDataPoints here, where graphite-web falls back
        // to averaging (README, "Wider points merge by kind"); consolidateBy makes them agree.
        "consolidateBy(sumSeries(events('web'),events('db')),'sum')",
        // Nested.
        "scale(sumSeries(diff.*.cpu),0.5)",
        "aliasByNode(scale(derivative(diff.*.cpu),2),1)",
        "sumSeries(perSecond(diff.requests.count),offset(diff.c.cpu,100))",
        "highestMax(summarize(diff.*.cpu,'30min','max'),1)",
    ]
}

/// Targets naming absolute times, which depend on the range's end (issue 16's Transform,
/// Calculate and Graph functions that take dates).
fn dated_targets(until: i64) -> Vec<String> {
    vec![
        format!(
            "timeSlice(diff.a.cpu,'{}','{}')",
            until - 2 * 3600,
            until - 3600
        ),
        format!(
            "timeSlice(diff.b.cpu,'{}','{}')",
            until - 1800,
            until + 3600
        ),
        format!(
            "linearRegression(diff.a.cpu,'{}','{}')",
            until - 2 * 3600,
            until - 3600
        ),
        format!("verticalLine('{}','deploy','blue')", until - 3600),
    ]
}

/// One series of a `/render` JSON answer: name, tags and datapoints.
#[derive(Debug, Clone, PartialEq)]
struct Rendered {
    name: String,
    /// `None` when the answer has no `tags` (graphite-web always has them; the comparison
    /// holds Abacus to them).
    tags: Option<BTreeMap<String, String>>,
    datapoints: Vec<(Option<f64>, i64)>,
}

fn parse_rendered(answer: &Value) -> Result<Vec<Rendered>, String> {
    let series = answer
        .as_array()
        .ok_or_else(|| format!("not a list: {answer}"))?;
    series
        .iter()
        .map(|series| {
            let name = series["target"].as_str().unwrap_or_default().to_owned();
            let tags = series["tags"].as_object().map(|tags| {
                tags.iter()
                    .map(|(key, value)| {
                        let text = value
                            .as_str()
                            .map_or_else(|| value.to_string(), str::to_owned);
                        (key.clone(), text)
                    })
                    .collect()
            });
            let datapoints = series["datapoints"]
                .as_array()
                .ok_or_else(|| format!("no datapoints in {series}"))?
                .iter()
                .map(|point| (point[0].as_f64(), point[1].as_i64().unwrap_or(i64::MIN)))
                .collect();
            Ok(Rendered {
                name,
                tags,
                datapoints,
            })
        })
        .collect()
}

fn values_agree(ours: Option<f64>, theirs: Option<f64>) -> bool {
    match (ours, theirs) {
        (None, None) => true,
        (Some(ours), Some(theirs)) => {
            ours == theirs || (ours - theirs).abs() <= 1e-9 * ours.abs().max(theirs.abs())
        }
        _ => false,
    }
}

/// Targets whose values are random in graphite-web: only their shape is compared.
fn is_random(target: &str) -> bool {
    target.starts_with("randomWalk")
}

/// For a random walk: the same names and timestamps, and (unconsolidated) a walk from 0 by
/// steps in [-0.5, 0.5) like graphite-web's.
fn shape_difference(
    ours: &[Rendered],
    theirs: &[Rendered],
    unconsolidated: bool,
) -> Option<String> {
    let timestamps_only = |list: &[Rendered]| -> Vec<Rendered> {
        list.iter()
            .map(|one| Rendered {
                name: one.name.clone(),
                tags: one.tags.clone(),
                datapoints: one
                    .datapoints
                    .iter()
                    .map(|(_, time)| (None, *time))
                    .collect(),
            })
            .collect()
    };
    if let Some(difference) = difference(&timestamps_only(ours), &timestamps_only(theirs), true) {
        return Some(difference);
    }
    if !unconsolidated {
        return None;
    }
    for one in ours {
        let values: Vec<Option<f64>> = one.datapoints.iter().map(|(value, _)| *value).collect();
        if values.first().copied().flatten() != Some(0.0) {
            return Some(format!("{}: does not start at 0: {values:?}", one.name));
        }
        for pair in values.windows(2) {
            let step = pair[1].zip(pair[0]).map(|(next, value)| next - value);
            if !step.is_some_and(|step| (-0.5..0.5).contains(&step)) {
                return Some(format!("{}: a step of {step:?} in {values:?}", one.name));
            }
        }
    }
    None
}

/// The first difference between Abacus's answer and graphite-web's, if any.
fn difference(ours: &[Rendered], theirs: &[Rendered], _: bool) -> Option<String> {
    if ours.len() != theirs.len() {
        let names = |list: &[Rendered]| list.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        return Some(format!(
            "{} series {:?}, graphite {} {:?}",
            ours.len(),
            names(ours),
            theirs.len(),
            names(theirs)
        ));
    }
    for (our, their) in ours.iter().zip(theirs) {
        if our.name != their.name {
            return Some(format!("named {:?}, graphite {:?}", our.name, their.name));
        }
        if their.tags.is_some() && our.tags != their.tags {
            return Some(format!(
                "{}: tags {:?}, graphite {:?}",
                our.name, our.tags, their.tags
            ));
        }
        if our.datapoints.len() != their.datapoints.len() {
            return Some(format!(
                "{}: {} points from {:?}, graphite {} from {:?}",
                our.name,
                our.datapoints.len(),
                our.datapoints.first(),
                their.datapoints.len(),
                their.datapoints.first()
            ));
        }
        for (ours, theirs) in our.datapoints.iter().zip(&their.datapoints) {
            if ours.1 != theirs.1 || !values_agree(ours.0, theirs.0) {
                return Some(format!("{}: {:?}, graphite {:?}", our.name, ours, theirs));
            }
        }
    }
    None
}

/// Runs tests/compat/graphite_web.py on one request.
fn run_graphite_web(request: &Value) -> anyhow::Result<Value> {
    let root = repo_root();
    let mut child = Command::new(root.join(".data/compat/graphite/bin/python"))
        .arg(root.join("tests/compat/graphite_web.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(request.to_string().as_bytes())?;
    let output = child.wait_with_output()?;
    anyhow::ensure!(
        output.status.success(),
        "graphite_web.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// Every name in graphite-web's `SeriesFunctions()`, aliases included.
fn graphite_function_names() -> anyhow::Result<Vec<String>> {
    let storage = tempdir()?;
    let answer = run_graphite_web(&json!({"storage": storage, "functions": true}));
    let _ = std::fs::remove_dir_all(&storage);
    Ok(serde_json::from_value(answer?["functions"].clone())?)
}

/// graphite-web's answers for `targets` over the range, on whisper files of `series`.
fn graphite_answers(
    series: &[(String, Vec<(i64, f64)>)],
    from: i64,
    until: i64,
    max_data_points: Option<u32>,
    events: &[(f64, String, String)],
    targets: &[&str],
) -> anyhow::Result<Value> {
    let storage = tempdir()?;
    let request = json!({
        "storage": storage,
        "series": series.iter().map(|(path, points)| (path.clone(), json!(points))).collect::<serde_json::Map<_, _>>(),
        "events": events,
        "from": from,
        "until": until,
        "now": until,
        "max_data_points": max_data_points,
        "targets": targets,
    });
    let answer = run_graphite_web(&request);
    let _ = std::fs::remove_dir_all(&storage);
    answer
}

fn tempdir() -> anyhow::Result<String> {
    let path =
        std::env::temp_dir().join(format!("abacus-graphite-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&path)?;
    Ok(path.to_string_lossy().into_owned())
}

fn installed_reference() -> anyhow::Result<()> {
    let output = Command::new("bash")
        .arg(repo_root().join("tests/compat/setup.sh"))
        .arg("graphite")
        .stdin(Stdio::null())
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "tests/compat/setup.sh failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

#[tokio::test]
async fn every_function_answers_as_graphite_web_does() -> anyhow::Result<()> {
    installed_reference()?;
    let seed = std::env::var("ABACUS_COMPAT_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(20_261_203);
    // The range ends on a whole hour two hours ago, so every point is stored before it is read
    // and the day partitions exist; whisper keeps a day at 10 s.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    // `ABACUS_COMPAT_SHIFT` (seconds) moves the range back further, to try other alignments
    // of its ends on the widened steps of maxDataPoints.
    let shift: i64 = std::env::var("ABACUS_COMPAT_SHIFT")
        .ok()
        .and_then(|shift| shift.parse().ok())
        .unwrap_or(0);
    let until = now - now % 3600 - 2 * 3600 - shift.clamp(0, 12 * 3600);
    let series = generate(seed, until);

    // The reference's whisper files aggregate by average (graphite_web.py), so Abacus gets the
    // same rule for every series; its defaults (`.count` sums, as carbon's
    // storage-aggregation.conf) would also consolidate maxDataPoints by sum, a deliberate
    // difference tested in point_consolidation.rs, not a graphite-web function's answer.
    let mut settings = PipelineSettings::new(Duration::from_secs(1)).await?;
    settings.adjust_storage_worker = |config| {
        config.storage_worker.aggregation_rules = vec![AggregationRuleSetting {
            pattern: Some(".*".into()),
            glob: None,
            aggregation: Aggregation::Average,
            x_files_factor: 0.0,
        }];
    };
    let (statsd_address, aggregator) = start_aggregator(settings.aggregator_config(), None).await?;
    let pipeline =
        Pipeline::start_with_aggregator(settings, statsd_address, Some(aggregator)).await?;
    let now_ms = now * 1000;
    let batch = FlushBatch {
        schema_version: abacus_proto::SCHEMA_VERSION,
        aggregator_id: "graphite-compat".into(),
        incarnation: 1,
        sequence: 1,
        interval_start_unix_ms: now_ms - now_ms % 10_000,
        interval_length_ms: 10_000,
        points: series
            .iter()
            .flat_map(|(path, points)| {
                let (name, tags) = name_and_tags(path);
                points.iter().map(move |&(time, value)| RawPoint {
                    name: name.clone(),
                    tags: tags.clone(),
                    timestamp_unix_ms: time * 1000,
                    value,
                })
            })
            .collect(),
        ..Default::default()
    };
    pipeline
        .publish_to_flush_subject(batch.encode_to_vec())
        .await?;
    pipeline.wait_until_worker_is_idle(1).await?;
    let events = generate_events(seed, until);
    for (when, what, tags) in &events {
        let (status, body) = pipeline
            .post_json(
                "/events/",
                &json!({"when": when, "what": what, "tags": tags, "data": ""}),
            )
            .await?;
        anyhow::ensure!(status == 200, "POST /events/: {status} {body}");
    }
    let listed = format!(
        "/events/get_data?from={}&until={}",
        until - 4 * 3600,
        until + 60
    );
    pipeline
        .wait_for_json(&listed, "the events", |body| {
            body.as_array()
                .is_some_and(|listed| listed.len() == events.len())
        })
        .await?;

    let dated = dated_targets(until);
    let targets: Vec<&str> = targets()
        .into_iter()
        .chain(dated.iter().map(String::as_str))
        .collect();

    // Every function of graphite-web is here, and every function here is compared.
    let theirs = graphite_function_names()?;
    let (status, ours) = pipeline.get_json("/functions").await?;
    assert_eq!(status, 200, "{ours}");
    let ours: Vec<&String> = ours.as_object().expect("an object").keys().collect();
    let missing: Vec<&String> = theirs.iter().filter(|name| !ours.contains(name)).collect();
    assert!(
        missing.is_empty(),
        "{} of graphite-web's {} functions are missing: {missing:?}",
        missing.len(),
        theirs.len()
    );
    let uncompared: Vec<&&String> = ours
        .iter()
        .filter(|name| {
            !targets.iter().any(|target| {
                target.match_indices(name.as_str()).any(|(at, _)| {
                    let before = target[..at].chars().next_back();
                    let called = target[at + name.len()..].starts_with('(');
                    called && !before.is_some_and(|character| character.is_alphanumeric())
                })
            })
        })
        .collect();
    assert!(
        uncompared.is_empty(),
        "functions no compared target calls: {uncompared:?}"
    );
    // Aligned and unaligned ranges, without and with maxDataPoints.
    let ranges = [
        (until - 3 * 3600, until, None),
        (until - 3 * 3600 + 7, until - 3, None),
        (until - 3 * 3600, until, Some(100)),
        (until - 2 * 3600 - 13, until - 21, Some(37)),
    ];
    let mut compared = 0;
    let mut differences = Vec::new();
    for (from, range_until, max_data_points) in ranges {
        let reference = graphite_answers(
            &series,
            from,
            range_until,
            max_data_points,
            &events,
            &targets,
        )?;
        for target in &targets {
            let their_answer = &reference[*target];
            let mut query = form_urlencoded::Serializer::new(String::new());
            query
                .append_pair("target", target)
                .append_pair("from", &from.to_string())
                .append_pair("until", &range_until.to_string())
                .append_pair("format", "json");
            if let Some(points) = max_data_points {
                query.append_pair("maxDataPoints", &points.to_string());
            }
            let (status, our_answer) = pipeline
                .get_json(&format!("/render?{}", query.finish()))
                .await?;
            compared += 1;
            let range =
                format!("from={from} until={range_until} maxDataPoints={max_data_points:?}");
            let mut differs = |difference: String| differences.push(difference);
            if their_answer.get("error").is_some() {
                if status == 200 {
                    differs(format!(
                        "{target} ({range}): graphite refuses it ({}), abacus answers",
                        their_answer["error"]
                    ));
                }
                continue;
            }
            if status != 200 {
                differs(format!(
                    "{target} ({range}): abacus answers {status}: {our_answer}"
                ));
                continue;
            }
            let theirs = parse_rendered(their_answer).map_err(anyhow::Error::msg)?;
            let ours = parse_rendered(&our_answer).map_err(anyhow::Error::msg)?;
            let compare = if is_random(target) {
                shape_difference
            } else {
                difference
            };
            if let Some(difference) = compare(&ours, &theirs, max_data_points.is_none()) {
                differs(format!("{target} ({range}): {difference}"));
            }
        }
    }
    // The Graph functions are no-ops in JSON but must change the picture: through /render,
    // a red dashed line (many short red polylines) and a right-hand axis for the series
    // scaled into the thousands.
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("target", "color(dashed(diff.a.cpu),'red')")
        .append_pair("target", "secondYAxis(scale(diff.c.cpu,1000))")
        .append_pair("from", &(until - 3600).to_string())
        .append_pair("until", &until.to_string())
        .append_pair("format", "svg");
    let (status, picture) = pipeline
        .get_text(&format!("/render?{}", query.finish()))
        .await?;
    assert_eq!(status, 200, "{picture}");
    let red_polylines = picture
        .split("<polyline ")
        .filter(|element| element.contains("stroke=\"#FF0000\""))
        .count();
    assert!(red_polylines > 20, "dashed red line missing: {picture}");
    assert!(
        picture.contains("K\n</text>"),
        "no axis labelled in thousands: {picture}"
    );
    assert!(
        differences.is_empty(),
        "{} of {compared} answers differ from graphite-web 1.1.10 (seed {seed}):\n{}",
        differences.len(),
        differences.join("\n")
    );
    println!(
        "{compared} answers ({} targets, {} ranges) agree with graphite-web 1.1.10 (seed {seed}); \
         {} functions, graphite-web has {}",
        targets.len(),
        ranges.len(),
        ours.len(),
        theirs.len()
    );
    pipeline.stop().await
}
