//! A single-flight cache of one expiring value.
//!
//! It knows nothing of STS: it holds a value with its expiry and asks a fetch function for a new
//! one. Reads are lock-free (`arc-swap`); fetches are serialized by an async mutex so that
//! concurrent callers share one fetch, and a failed fetch is shared the same way: callers that
//! queued behind a fetch get its error instead of starting one each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use std::future::Future;

/// How long before expiry a value stops being served: one minute, or a quarter of its lifetime
/// when that is shorter, so that short-lived values are still used for most of their life.
const MAX_BUFFER: Duration = Duration::from_secs(60);

/// Whether a value fetched at `fetched_at` and expiring at `expiry` may still be served at `now`.
pub(crate) fn is_fresh(fetched_at: SystemTime, expiry: SystemTime, now: SystemTime) -> bool {
    let lifetime = expiry.duration_since(fetched_at).unwrap_or_default();
    let buffer = MAX_BUFFER.min(lifetime / 4);
    expiry
        .duration_since(now)
        .is_ok_and(|remaining| remaining > buffer)
}

#[derive(Debug)]
struct Entry<T> {
    value: T,
    fetched_at: SystemTime,
    expiry: SystemTime,
}

/// The outcome of the last fetch, kept so that callers who waited for it can share it.
#[derive(Debug)]
struct LastFetch<E> {
    generation: u64,
    error: Option<E>,
}

#[derive(Debug)]
pub(crate) struct Cache<T, E> {
    current: ArcSwapOption<Entry<T>>,
    generation: AtomicU64,
    fetch_lock: tokio::sync::Mutex<LastFetch<E>>,
}

impl<T: Clone, E: Clone> Cache<T, E> {
    pub(crate) fn new() -> Self {
        Cache {
            current: ArcSwapOption::empty(),
            generation: AtomicU64::new(0),
            fetch_lock: tokio::sync::Mutex::new(LastFetch {
                generation: 0,
                error: None,
            }),
        }
    }

    /// The cached value, if it is still fresh at `now`.
    pub(crate) fn get(&self, now: SystemTime) -> Option<T> {
        let guard = self.current.load();
        let entry = guard.as_deref()?;
        is_fresh(entry.fetched_at, entry.expiry, now).then(|| entry.value.clone())
    }

    /// The expiry of the cached value, fresh or not.
    pub(crate) fn expiry(&self) -> Option<SystemTime> {
        self.current.load().as_deref().map(|e| e.expiry)
    }

    /// The cached value if fresh, else the result of one fetch shared with every concurrent
    /// caller. `fetch` returns the value and its expiry.
    ///
    /// A caller that is dropped while fetching releases the lock, and the next waiter fetches.
    pub(crate) async fn get_or_fetch<F, Fut>(
        &self,
        now: impl Fn() -> SystemTime,
        fetch: F,
    ) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(T, SystemTime), E>>,
    {
        let seen = self.generation.load(Ordering::Acquire);
        let mut last = self.fetch_lock.lock().await;
        if let Some(value) = self.get(now()) {
            return Ok(value);
        }
        if last.generation != seen {
            if let Some(error) = &last.error {
                return Err(error.clone());
            }
        }
        let fetched_at = now();
        let result = fetch().await;
        last.generation += 1;
        self.generation.store(last.generation, Ordering::Release);
        match result {
            Ok((value, expiry)) => {
                last.error = None;
                self.current.store(Some(Arc::new(Entry {
                    value: value.clone(),
                    fetched_at,
                    expiry,
                })));
                Ok(value)
            }
            Err(error) => {
                last.error = Some(error.clone());
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn freshness_keeps_a_buffer_of_a_minute_or_a_quarter_of_the_lifetime() {
        // (fetched, expiry, now, fresh)
        let cases = [
            (0, 3600, 0, true),
            (0, 3600, 3539, true),
            (0, 3600, 3540, false),
            (0, 3600, 3600, false),
            (0, 3600, 4000, false),
            (0, 40, 29, true),
            (0, 40, 30, false),
            (100, 100, 100, false),
        ];
        for (fetched, expiry, now, fresh) in cases {
            assert_eq!(
                is_fresh(at(fetched), at(expiry), at(now)),
                fresh,
                "{fetched} {expiry} {now}"
            );
        }
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch() {
        let cache = Arc::new(Cache::<u32, String>::new());
        let fetches = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let (cache, fetches) = (cache.clone(), fetches.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_fetch(
                            || at(0),
                            || async {
                                fetches.fetch_add(1, Ordering::SeqCst);
                                tokio::task::yield_now().await;
                                Ok((7, at(3600)))
                            },
                        )
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), Ok(7));
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn waiters_share_a_failed_fetch_and_the_next_call_tries_again() {
        let cache = Arc::new(Cache::<u32, String>::new());
        let fetches = Arc::new(AtomicUsize::new(0));
        let call = |cache: Arc<Cache<u32, String>>, fetches: Arc<AtomicUsize>| async move {
            cache
                .get_or_fetch(
                    || at(0),
                    || async {
                        let n = fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        Err(format!("failure {n}"))
                    },
                )
                .await
        };
        let tasks: Vec<_> = (0..50)
            .map(|_| tokio::spawn(call(cache.clone(), fetches.clone())))
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), Err("failure 0".to_owned()));
        }
        assert_eq!(
            call(cache.clone(), fetches.clone()).await,
            Err("failure 1".to_owned())
        );
    }

    #[tokio::test]
    async fn a_stale_value_is_fetched_again() {
        let cache = Cache::<u32, String>::new();
        let first = cache
            .get_or_fetch(|| at(0), || async { Ok((1, at(100))) })
            .await;
        assert_eq!(first, Ok(1));
        assert_eq!(cache.get(at(70)), Some(1));
        assert_eq!(cache.get(at(80)), None);
        let second = cache
            .get_or_fetch(|| at(80), || async { Ok((2, at(200))) })
            .await;
        assert_eq!(second, Ok(2));
        assert_eq!(cache.expiry(), Some(at(200)));
    }
}
