//! A line's text split into its fields at ASCII separators (`|`, `:`, `,`, `;`, `=`) by plain
//! byte loops, cheaper than the general `str` searchers on fields this short; and the rule
//! every parser keeps that a field comes at most once.

use super::ParseError;

/// `text` before and after the first `separator` (an ASCII byte), like `str::split_once`.
#[inline]
pub(super) fn split_at_byte(text: &str, separator: u8) -> Option<(&str, &str)> {
    let position = text.bytes().position(|byte| byte == separator)?;
    // An ASCII byte is a char boundary, and so is the byte after it.
    Some((&text[..position], &text[position + 1..]))
}

/// `text` split at every `separator` (an ASCII byte), like `str::split` with a `char`, by a
/// plain byte loop: cheaper than the general searcher on the short fields of a line.
pub(super) fn split_ascii(text: &str, separator: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match split_at_byte(current, separator) {
            Some((piece, after)) => {
                rest = Some(after);
                Some(piece)
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// Fills a field's slot, refusing a line that gives the same field twice: which of the two
/// values was meant cannot be known, so neither silently wins.
pub(super) fn set_once<T>(slot: &mut Option<T>, value: T) -> Result<(), ParseError> {
    if slot.replace(value).is_some() {
        return Err(ParseError::DuplicateField);
    }
    Ok(())
}
