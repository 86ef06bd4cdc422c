//! Function parameters and the arguments bound to them: positional arguments fill parameters
//! in order, keyword arguments by name, and a final `multiple` parameter takes the rest (as in
//! graphite-web's `validateParams`). Accessors check each argument's type and name the function
//! and position in their errors, so a function body only states what it needs.

use super::error::EvaluationError;
use super::series::TimeSeries;

/// An evaluated argument.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    SeriesList(Vec<TimeSeries>),
    Integer(i64),
    Float(f64),
    String(String),
    Boolean(bool),
    None,
}

/// graphite-web's parameter types (`ParamTypes`), named as `/functions` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParameterType {
    SeriesList,
    /// A list of series lists (`reduceSeries`' input, which `mapSeries` makes).
    SeriesLists,
    Float,
    Integer,
    Boolean,
    String,
    Interval,
    Date,
    IntOrInterval,
    IntOrInf,
    Node,
    NodeOrTag,
    Tag,
    AggregationFunction,
    AggregationOrSeriesFunction,
    Any,
}

impl ParameterType {
    pub(super) fn graphite_name(self) -> &'static str {
        match self {
            Self::SeriesList => "seriesList",
            Self::SeriesLists => "seriesLists",
            Self::Float => "float",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
            Self::String => "string",
            Self::Interval => "interval",
            Self::Date => "date",
            Self::IntOrInterval => "intOrInterval",
            Self::IntOrInf => "intOrInf",
            Self::Node => "node",
            Self::NodeOrTag => "nodeOrTag",
            Self::Tag => "tag",
            Self::AggregationFunction => "aggFunc",
            Self::AggregationOrSeriesFunction => "aggOrSeriesFunc",
            Self::Any => "any",
        }
    }
}

/// One parameter of a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parameter {
    pub name: &'static str,
    pub kind: ParameterType,
    pub required: bool,
    /// Takes every remaining positional argument; only the last parameter can.
    pub multiple: bool,
}

pub(crate) const fn required(name: &'static str, kind: ParameterType) -> Parameter {
    Parameter {
        name,
        kind,
        required: true,
        multiple: false,
    }
}

pub(crate) const fn optional(name: &'static str, kind: ParameterType) -> Parameter {
    Parameter {
        name,
        kind,
        required: false,
        multiple: false,
    }
}

pub(crate) const fn repeated(name: &'static str, kind: ParameterType, required: bool) -> Parameter {
    Parameter {
        name,
        kind,
        required,
        multiple: true,
    }
}

/// A node index (`aliasByNode(a.b.c, 1)`) or a tag name (`aliasByNode(x, "dc")`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NodeOrTag {
    Node(i64),
    Tag(String),
}

/// Arguments placed on parameters: `slots[i]` is parameter `i`'s argument, the values of a
/// final `multiple` parameter are in `repeated`.
#[derive(Debug)]
pub(crate) struct Bound<T> {
    pub slots: Vec<Option<T>>,
    pub repeated: Vec<T>,
}

/// Places positional and keyword arguments on `parameters`.
pub(crate) fn bind<T>(
    function: &str,
    parameters: &[Parameter],
    positional: Vec<T>,
    keywords: Vec<(String, T)>,
) -> Result<Bound<T>, EvaluationError> {
    let takes_repeated = parameters.last().is_some_and(|last| last.multiple);
    let fixed_count = parameters.len() - usize::from(takes_repeated);
    let mut slots: Vec<Option<T>> = (0..parameters.len()).map(|_| None).collect();
    let mut repeated = Vec::new();
    for (index, value) in positional.into_iter().enumerate() {
        if index < fixed_count {
            slots[index] = Some(value);
        } else if takes_repeated {
            repeated.push(value);
        } else {
            return Err(EvaluationError::TooManyArguments {
                function: function.to_owned(),
                maximum: parameters.len(),
            });
        }
    }
    for (keyword, value) in keywords {
        let Some(index) = parameters
            .iter()
            .position(|parameter| parameter.name == keyword)
        else {
            return Err(EvaluationError::UnknownKeywordArgument {
                function: function.to_owned(),
                argument: keyword,
            });
        };
        let already_given = if parameters[index].multiple {
            !repeated.is_empty()
        } else {
            slots[index].is_some()
        };
        if already_given {
            return Err(EvaluationError::DuplicateArgument {
                function: function.to_owned(),
                argument: keyword,
            });
        }
        if parameters[index].multiple {
            repeated.push(value);
        } else {
            slots[index] = Some(value);
        }
    }
    for (index, parameter) in parameters.iter().enumerate() {
        let missing = if parameter.multiple {
            repeated.is_empty()
        } else {
            slots[index].is_none()
        };
        if parameter.required && missing {
            return Err(EvaluationError::MissingArgument {
                function: function.to_owned(),
                argument: parameter.name.to_owned(),
            });
        }
    }
    Ok(Bound { slots, repeated })
}

/// A function's evaluated arguments, with typed accessors.
#[derive(Debug)]
pub(crate) struct Arguments {
    pub function: &'static str,
    pub bound: Bound<Value>,
}

impl Arguments {
    fn wrong_type(&self, index: usize, expected: &str) -> EvaluationError {
        EvaluationError::WrongArgumentType {
            function: self.function.to_owned(),
            position: index + 1,
            expected: expected.to_owned(),
        }
    }

    /// The argument of parameter `index`, `None` when absent or given as `None`.
    fn take(&mut self, index: usize) -> Option<Value> {
        match self.bound.slots.get_mut(index).and_then(Option::take) {
            Some(Value::None) | None => None,
            Some(value) => Some(value),
        }
    }

    pub(super) fn series_list(&mut self, index: usize) -> Result<Vec<TimeSeries>, EvaluationError> {
        match self.take(index) {
            Some(Value::SeriesList(series)) => Ok(series),
            _ => Err(self.wrong_type(index, "series list")),
        }
    }

    pub(super) fn optional_series_list(
        &mut self,
        index: usize,
    ) -> Result<Option<Vec<TimeSeries>>, EvaluationError> {
        match self.take(index) {
            None => Ok(None),
            Some(Value::SeriesList(series)) => Ok(Some(series)),
            Some(_) => Err(self.wrong_type(index, "series list")),
        }
    }

    /// Every series list of a `multiple` series parameter starting at `index`.
    pub(super) fn repeated_series_lists(
        &mut self,
        index: usize,
    ) -> Result<Vec<Vec<TimeSeries>>, EvaluationError> {
        let values = std::mem::take(&mut self.bound.repeated);
        values
            .into_iter()
            .enumerate()
            .map(|(offset, value)| match value {
                Value::SeriesList(series) => Ok(series),
                _ => Err(self.wrong_type(index + offset, "series list")),
            })
            .collect()
    }

    pub(super) fn optional_number(&mut self, index: usize) -> Result<Option<f64>, EvaluationError> {
        match self.take(index) {
            None => Ok(None),
            Some(Value::Integer(integer)) => Ok(Some(integer as f64)),
            Some(Value::Float(float)) => Ok(Some(float)),
            Some(_) => Err(self.wrong_type(index, "number")),
        }
    }

    pub(super) fn number(&mut self, index: usize) -> Result<f64, EvaluationError> {
        self.optional_number(index)?
            .ok_or_else(|| self.wrong_type(index, "number"))
    }

    pub(super) fn optional_integer(
        &mut self,
        index: usize,
    ) -> Result<Option<i64>, EvaluationError> {
        match self.take(index) {
            None => Ok(None),
            Some(Value::Integer(integer)) => Ok(Some(integer)),
            Some(_) => Err(self.wrong_type(index, "integer")),
        }
    }

    pub(super) fn integer(&mut self, index: usize) -> Result<i64, EvaluationError> {
        self.optional_integer(index)?
            .ok_or_else(|| self.wrong_type(index, "integer"))
    }

    pub(super) fn optional_string(
        &mut self,
        index: usize,
    ) -> Result<Option<String>, EvaluationError> {
        match self.take(index) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(self.wrong_type(index, "string")),
        }
    }

    pub(super) fn string(&mut self, index: usize) -> Result<String, EvaluationError> {
        self.optional_string(index)?
            .ok_or_else(|| self.wrong_type(index, "string"))
    }

    pub(super) fn boolean_or(
        &mut self,
        index: usize,
        default: bool,
    ) -> Result<bool, EvaluationError> {
        match self.take(index) {
            None => Ok(default),
            Some(Value::Boolean(flag)) => Ok(flag),
            Some(_) => Err(self.wrong_type(index, "boolean")),
        }
    }

    /// Every value of a `multiple` node-or-tag parameter starting at `index`.
    pub(super) fn repeated_nodes_or_tags(
        &mut self,
        index: usize,
    ) -> Result<Vec<NodeOrTag>, EvaluationError> {
        let values = std::mem::take(&mut self.bound.repeated);
        values
            .into_iter()
            .enumerate()
            .map(|(offset, value)| match value {
                Value::Integer(node) => Ok(NodeOrTag::Node(node)),
                Value::String(tag) => Ok(NodeOrTag::Tag(tag)),
                _ => Err(self.wrong_type(index + offset, "node number or tag name")),
            })
            .collect()
    }

    /// Every value of a `multiple` integer parameter starting at `index`.
    pub(super) fn repeated_integers(&mut self, index: usize) -> Result<Vec<i64>, EvaluationError> {
        let values = std::mem::take(&mut self.bound.repeated);
        values
            .into_iter()
            .enumerate()
            .map(|(offset, value)| match value {
                Value::Integer(integer) => Ok(integer),
                _ => Err(self.wrong_type(index + offset, "integer")),
            })
            .collect()
    }

    /// Every value of a `multiple` string parameter starting at `index`.
    pub(super) fn repeated_strings(
        &mut self,
        index: usize,
    ) -> Result<Vec<String>, EvaluationError> {
        let values = std::mem::take(&mut self.bound.repeated);
        values
            .into_iter()
            .enumerate()
            .map(|(offset, value)| match value {
                Value::String(text) => Ok(text),
                _ => Err(self.wrong_type(index + offset, "string")),
            })
            .collect()
    }

    pub(super) fn node_or_tag(&mut self, index: usize) -> Result<NodeOrTag, EvaluationError> {
        match self.take(index) {
            Some(Value::Integer(node)) => Ok(NodeOrTag::Node(node)),
            Some(Value::String(tag)) => Ok(NodeOrTag::Tag(tag)),
            _ => Err(self.wrong_type(index, "node number or tag name")),
        }
    }

    /// Whatever was given for parameter `index` (for `asPercent`'s `total`).
    pub(super) fn any(&mut self, index: usize) -> Option<Value> {
        self.take(index)
    }

    pub(super) fn invalid(&self, message: impl Into<String>) -> EvaluationError {
        EvaluationError::invalid(self.function, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMETERS: &[Parameter] = &[
        required("seriesList", ParameterType::SeriesList),
        required("factor", ParameterType::Float),
        optional("flag", ParameterType::Boolean),
    ];

    #[test]
    fn binding_table() {
        let bound = bind("f", PARAMETERS, vec![1, 2], vec![("flag".into(), 3)]).unwrap();
        assert_eq!(bound.slots, vec![Some(1), Some(2), Some(3)]);
        let bound = bind("f", PARAMETERS, vec![1], vec![("factor".into(), 2)]).unwrap();
        assert_eq!(bound.slots, vec![Some(1), Some(2), None]);
        let errors = [
            (
                bind("f", PARAMETERS, vec![1, 2, 3, 4], vec![]).unwrap_err(),
                "too many arguments for f: it takes at most 3",
            ),
            (
                bind("f", PARAMETERS, vec![1], vec![]).unwrap_err(),
                "missing required argument \"factor\" for f",
            ),
            (
                bind("f", PARAMETERS, vec![1, 2], vec![("nope".into(), 3)]).unwrap_err(),
                "unknown keyword argument \"nope\" for f",
            ),
            (
                bind("f", PARAMETERS, vec![1, 2], vec![("factor".into(), 3)]).unwrap_err(),
                "argument \"factor\" given twice for f",
            ),
        ];
        for (error, expected) in errors {
            assert_eq!(error.to_string(), expected);
        }
        let variadic = [repeated("seriesLists", ParameterType::SeriesList, true)];
        let bound = bind("sum", &variadic, vec![1, 2, 3], vec![]).unwrap();
        assert_eq!(bound.repeated, vec![1, 2, 3]);
        assert!(bind::<i32>("sum", &variadic, vec![], vec![]).is_err());
    }

    #[test]
    fn accessors_check_types() {
        let mut arguments = Arguments {
            function: "scale",
            bound: Bound {
                slots: vec![Some(Value::String("x".into())), Some(Value::None)],
                repeated: vec![],
            },
        };
        assert_eq!(
            arguments.number(0).unwrap_err().to_string(),
            "wrong argument type for scale: expected number at argument 1"
        );
        assert_eq!(arguments.optional_number(1), Ok(None));
        assert_eq!(arguments.boolean_or(1, true), Ok(true));
    }
}
