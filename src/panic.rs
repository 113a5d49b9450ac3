//! The one guard against panics in code the crate calls but does not own (the base provider, the
//! MFA token provider, a fetch that runs the SDK's HTTP client): a panic becomes a failure that
//! carries its message, and the caller reports it like any other.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};

use futures_util::FutureExt;

/// Calls `make` and awaits the future it returns; a panic in either is `Err` with the panic's
/// message.
pub(crate) async fn guarded<F, Fut>(make: F) -> Result<Fut::Output, String>
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    match catch_unwind(AssertUnwindSafe(make)) {
        Ok(future) => AssertUnwindSafe(future)
            .catch_unwind()
            .await
            .map_err(|panic| message(&*panic).to_owned()),
        Err(panic) => Err(message(&*panic).to_owned()),
    }
}

fn message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_while_making_the_future_or_in_it_is_its_message() {
        let making = guarded(|| -> std::future::Ready<()> { panic!("at the start") }).await;
        assert_eq!(making, Err("at the start".to_owned()));
        let running = guarded(|| async { panic!("{} later", 2) }).await;
        assert_eq!(running, Err::<(), _>("2 later".to_owned()));
        let silent = guarded(|| async { std::panic::panic_any(7) }).await;
        assert_eq!(silent, Err::<(), _>("a panic without a message".to_owned()));
        assert_eq!(guarded(|| async { 42 }).await, Ok(42));
    }
}
