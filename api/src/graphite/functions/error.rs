//! Why an expression could not be evaluated: [`EvaluationError`], a mistake in the request (the
//! API answers 400), or [`EvaluateError::Source`], the series source's own error, kept typed so
//! the HTTP edge can tell a bad path from a database that is down.

/// An error while evaluating a parsed target.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvaluationError {
    #[error("unknown function \"{0}\"")]
    UnknownFunction(String),
    #[error("wrong argument type for {function}: expected {expected} at argument {position}")]
    WrongArgumentType {
        function: String,
        /// 1-based, as a user counts.
        position: usize,
        expected: String,
    },
    #[error("missing required argument \"{argument}\" for {function}")]
    MissingArgument { function: String, argument: String },
    #[error("too many arguments for {function}: it takes at most {maximum}")]
    TooManyArguments { function: String, maximum: usize },
    #[error("unknown keyword argument \"{argument}\" for {function}")]
    UnknownKeywordArgument { function: String, argument: String },
    #[error("argument \"{argument}\" given twice for {function}")]
    DuplicateArgument { function: String, argument: String },
    /// The argument has the right type but a value the function cannot use; the message says
    /// which and why.
    #[error("invalid argument for {function}: {message}")]
    InvalidArgument { function: String, message: String },
}

/// Why evaluating over a source with errors of type `E` failed.
#[derive(Debug, thiserror::Error)]
pub enum EvaluateError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Invalid(#[from] EvaluationError),
    /// The source failed: a path it refuses, the database unreachable, a read too large.
    #[error("cannot read series: {0}")]
    Source(#[source] E),
}

impl EvaluationError {
    pub(crate) fn invalid(function: &str, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            function: function.to_owned(),
            message: message.into(),
        }
    }
}
