//! Property tests: no target, however hostile, crashes the parser or the evaluator. Whatever
//! text a client sends as `target`, `/render` must answer (a series list or a refusal), never
//! panic, overflow the stack or run away with memory.
//!
//! Two generators: arbitrary text, which mostly exercises the parser's refusals, and
//! well-formed calls of the library's own functions (names and parameter types from the
//! registry, so about a third of them evaluate to series) with arguments chosen to hit edges: huge, zero and negative numbers, intervals of a second and of a
//! thousand years, invalid regular expressions, nested calls and pipes up to the nesting
//! limit. Each parsed target is evaluated over a small in-memory source; the evaluation may
//! fail, and only how it fails is checked: with an error value.

use super::testing::{series, InMemorySource, START, STEP};
use super::{evaluate, function_descriptions, parse_target, EvaluationContext};
use proptest::prelude::*;

/// Each function's name and its parameters' Graphite types, `?` marking an optional one and
/// `*` a repeated one, from the registry's own description.
fn signatures() -> Vec<(String, Vec<String>)> {
    function_descriptions()
        .as_object()
        .expect("the descriptions are an object")
        .iter()
        .map(|(name, description)| {
            let parameters = description["params"]
                .as_array()
                .expect("params is an array")
                .iter()
                .map(|parameter| {
                    let mut kind = parameter["type"].as_str().unwrap_or_default().to_owned();
                    if parameter["multiple"] == true {
                        kind.push('*');
                    } else if parameter["required"] != true {
                        kind.push('?');
                    }
                    kind
                })
                .collect();
            (name.clone(), parameters)
        })
        .collect()
}

fn edge_integer() -> impl Strategy<Value = String> {
    prop_oneof![
        (-5i64..6).prop_map(|number| number.to_string()),
        any::<i64>().prop_map(|number| number.to_string()),
        Just("9223372036854775807".to_owned()),
        Just("-9223372036854775808".to_owned()),
    ]
}

fn edge_float() -> impl Strategy<Value = String> {
    prop_oneof![
        edge_integer(),
        any::<f64>().prop_map(|number| format!("{number:?}")),
        prop::sample::select(vec!["0.5", "-0.0", "1e308", "-1e308", "99.999", "100.1"])
            .prop_map(str::to_owned),
    ]
}

fn edge_string() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "'1s'",
        "'1min'",
        "'-1d'",
        "'+1h'",
        "'1000y'",
        "'0s'",
        "'-0s'",
        "'99999999999999999y'",
        "'sum'",
        "'avg'",
        "'median'",
        "'last'",
        "'multiply'",
        "'nope'",
        "'.*'",
        "'('",
        "'\\d+'",
        "'['",
        "'name=a.b'",
        "'name=~a.*'",
        "'x!=~('",
        "''",
        "'inf'",
        "'a'",
        "'b.c'",
    ])
    .prop_map(str::to_owned)
}

fn any_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        edge_float(),
        edge_string(),
        prop::sample::select(vec!["true", "false", "None"]).prop_map(str::to_owned),
    ]
}

/// An argument for a parameter of Graphite type `kind`; now and then one of another type.
fn argument_for(kind: &str, series: BoxedStrategy<String>) -> BoxedStrategy<String> {
    let fitting: BoxedStrategy<String> = match kind.trim_end_matches(['?', '*']) {
        "seriesList" => series,
        "integer" | "node" | "intOrInf" => edge_integer().boxed(),
        "float" => edge_float().boxed(),
        "boolean" => prop::sample::select(vec!["true", "false"])
            .prop_map(str::to_owned)
            .boxed(),
        "nodeOrTag" | "intOrInterval" | "any" => {
            prop_oneof![edge_integer(), edge_string(), series].boxed()
        }
        _ => edge_string().boxed(),
    };
    prop_oneof![9 => fitting, 1 => any_literal()].boxed()
}

/// A call of `name` with arguments for its parameters: every required one, some optional and
/// repeated ones.
fn call(
    name: String,
    parameters: Vec<String>,
    series: BoxedStrategy<String>,
) -> BoxedStrategy<String> {
    let arguments: Vec<BoxedStrategy<Vec<String>>> = parameters
        .iter()
        .map(|kind| {
            let one = argument_for(kind, series.clone());
            if kind.ends_with('*') {
                prop::collection::vec(one, 0..3).boxed()
            } else if kind.ends_with('?') {
                prop::collection::vec(one, 0..=1).boxed()
            } else {
                one.prop_map(|argument| vec![argument]).boxed()
            }
        })
        .collect();
    arguments
        .prop_map(move |arguments| format!("{name}({})", arguments.concat().join(",")))
        .boxed()
}

fn path() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "a.b", "a.*", "a.{b,c}", "*", "nope", "a.[bc]", "*.*.*",
    ])
    .prop_map(str::to_owned)
}

/// A well-formed target: paths and calls of the library's functions, nested and piped.
fn target() -> impl Strategy<Value = String> {
    let signatures = signatures();
    path().prop_recursive(5, 32, 3, move |inner| {
        let inner = inner.boxed();
        let calls: Vec<BoxedStrategy<String>> = signatures
            .iter()
            .map(|(name, parameters)| call(name.clone(), parameters.clone(), inner.clone()))
            .collect();
        let any_call = prop::strategy::Union::new(calls).boxed();
        prop_oneof![
            3 => any_call.clone(),
            // A pipe hands its left side to the call as the first argument.
            1 => (inner, any_call).prop_map(|(piped, call)| {
                match call.split_once('(') {
                    Some((name, rest)) => match rest.split_once(',') {
                        Some((_, others)) => format!("{piped}|{name}({others}"),
                        None => format!("{piped}|{name}()"),
                    },
                    None => call,
                }
            }),
        ]
    })
}

/// Parses and, when it parses, evaluates `target`; panics only if either does.
fn parse_and_evaluate(target: &str) {
    let Ok(expression) = parse_target(target) else {
        return;
    };
    let stored = vec![
        series("a.b", &[Some(1.0), None, Some(-3.5), Some(f64::MAX)]),
        series(
            "a.c",
            &[Some(0.0), Some(2.0), None, Some(f64::MIN_POSITIVE)],
        ),
        series("x.y.z", &[None, None, Some(7.0), Some(1e300)]),
    ];
    let context = EvaluationContext {
        from: START,
        until: START + 40 * STEP,
        now: START + 40 * STEP,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let _ = runtime.block_on(evaluate(
        &expression,
        &context,
        &InMemorySource::new(stored),
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_library_call_crashes_the_evaluator(target in target()) {
        parse_and_evaluate(&target);
    }

    #[test]
    fn no_text_crashes_the_parser_or_the_evaluator(target in "\\PC{0,80}") {
        parse_and_evaluate(&target);
    }
}

/// The deepest target the parser accepts evaluates within a tokio worker's default 2 MiB
/// stack, in a debug build: the nesting limit is what keeps evaluation off the guard page.
#[test]
fn the_deepest_accepted_target_evaluates_on_a_small_stack() {
    let depth = super::expression::MAXIMUM_NESTING;
    let nested = format!(
        "{}a.b{}",
        "absolute(".repeat(depth - 1),
        ")".repeat(depth - 1)
    );
    let piped = format!("a.b{}", "|absolute()".repeat(depth - 1));
    for target in [nested, piped] {
        assert!(parse_target(&target).is_ok(), "{target}");
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || parse_and_evaluate(&target))
            .expect("a thread")
            .join()
            .expect("evaluation overflowed a 2 MiB stack");
    }
}
