//! What this crate's unit tests share.

/// One `#[test]` per row of a table, named after the row, so that one failing row does not hide
/// the others: `cases! { check: name_of_row: arguments; … }` calls `check(arguments)`.
macro_rules! cases {
    ($check:ident: $($name:ident: $args:expr;)+) => {
        $(#[test] fn $name() { $check($args) })+
    };
}

pub(crate) use cases;
