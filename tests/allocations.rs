//! Memory, counted by this binary's own global allocator: the cached path allocates nothing, and
//! refreshing does not leak.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use aws_credential_types::provider::ProvideCredentials;
use aws_role_chain::{Role, RoleChainProvider};
use aws_smithy_async::test_util::tick_advance_sleep::TickAdvanceTime;
use common::*;
use futures_util::FutureExt;

/// The system allocator, counting the bytes live in the process and the allocations made by
/// each thread.
struct Counting;

static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

thread_local! {
    static ALLOCATIONS_HERE: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS_HERE.with(|n| n.set(n.get() + 1));
        LIVE_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: the caller's layout, passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS_HERE.with(|n| n.set(n.get() + 1));
        LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: allocated by `alloc` above with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The allocations this thread makes while running `f`.
fn allocations_in(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS_HERE.with(Cell::get);
    f();
    ALLOCATIONS_HERE.with(Cell::get) - before
}

#[tokio::test(flavor = "current_thread")]
async fn the_cached_path_allocates_nothing() {
    let world = World::new().await;
    let provider = world.two_hops();
    provider.credentials().await.unwrap();
    assert_eq!(
        allocations_in(|| drop(black_box(vec![0u8; 16]))),
        1,
        "the counter sees an allocation"
    );

    let through_credentials = allocations_in(|| {
        for _ in 0..1000 {
            let served = provider.credentials().now_or_never().unwrap().unwrap();
            black_box(served);
        }
    });
    let through_the_sdk_trait = allocations_in(|| {
        for _ in 0..1000 {
            let served = provider.provide_credentials().now_or_never().unwrap();
            black_box(served.unwrap());
        }
    });
    assert_eq!((through_credentials, through_the_sdk_trait), (0, 0));
}

#[cfg(feature = "pool")]
#[tokio::test(flavor = "current_thread")]
async fn a_tenants_cached_path_allocates_nothing() {
    let (time, sleep) =
        aws_smithy_async::test_util::tick_advance_sleep::tick_advance_time_and_sleep();
    let world = World::with_clock(time.clone()).await;
    let pool = aws_role_chain::RoleChainPool::builder()
        .base_provider(world.compute.clone())
        .endpoint_url(world.sts.endpoint_url())
        .time_source(time.clone())
        .sleep_impl(sleep)
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .build()
        .unwrap();
    let tenant = pool
        .tenant(Role::new(STORAGE).external_id(STORAGE_EXTERNAL_ID))
        .unwrap();
    let fetch = tokio::spawn({
        let tenant = tenant.clone();
        async move { tenant.credentials().await }
    });
    let step = Duration::from_millis(10);
    advance_until(
        &time,
        step,
        Duration::from_secs(60),
        "the tenant is fetched",
        || fetch.is_finished(),
    )
    .await;
    fetch.await.unwrap().unwrap();
    // On manual time every call falls in one second: the pool is told of none of them.
    let through_credentials = allocations_in(|| {
        for _ in 0..1000 {
            black_box(tenant.credentials().now_or_never().unwrap().unwrap());
        }
    });
    let through_the_sdk_trait = allocations_in(|| {
        for _ in 0..1000 {
            black_box(
                tenant
                    .provide_credentials()
                    .now_or_never()
                    .unwrap()
                    .unwrap(),
            );
        }
    });
    assert_eq!((through_credentials, through_the_sdk_trait), (0, 0));
}

/// Runs `n` background refreshes of 15-minute credentials, ten minutes apart on manual time,
/// then lets LocalSts forget them.
async fn refreshes(provider: &RoleChainProvider, world: &World, time: &TickAdvanceTime, n: u64) {
    for _ in 0..n {
        let done = provider.status().successful_refreshes() + 1;
        time.tick(Duration::from_secs(600)).await;
        eventually("the refresh", || {
            provider.status().successful_refreshes() >= done
        })
        .await;
    }
    world.sts.forget_history();
}

#[tokio::test(flavor = "current_thread")]
async fn a_thousand_refreshes_leave_no_memory_behind() {
    let (world, time, builder) = World::on_manual_time().await;
    world
        .sts
        .set_session_lifetime(Some(Duration::from_secs(900)));
    let provider = builder
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .build()
        .unwrap();
    provider.credentials().await.unwrap();
    // Warm up: connections, buffers and the SDK's caches reach their working size.
    refreshes(&provider, &world, &time, 100).await;
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    refreshes(&provider, &world, &time, 1000).await;
    let grown = LIVE_BYTES.load(Ordering::Relaxed) - before;
    println!("live bytes grew by {grown} over 1000 refreshes");
    // A leak of 100 bytes a refresh would be 100 kB.
    assert!(grown < 32 * 1024, "{grown} bytes more after 1000 refreshes");
    assert!(provider.status().successful_refreshes() > 1100);
}
