//! `forward` allocates nothing: a counting global allocator watches it run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator, which upholds the
// GlobalAlloc contract; the counter has no effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the caller's layout is passed through as received.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout, via `alloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: as for `dealloc`; the new size comes from the caller.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

mod v1 {
    mobilenet::mobilenet!("specs/v1_alpha0.25_224.yaml");
}

#[test]
fn forward_allocates_nothing() {
    let mut model = v1::Model::new(v1::Weights::random(3));
    let input = vec![0.5f32; v1::INPUT_LEN];
    let input: &[f32; v1::INPUT_LEN] = input.as_slice().try_into().unwrap();
    model.forward(input); // warm-up: nothing lazy may hide in the first call either
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..3 {
        std::hint::black_box(model.forward(std::hint::black_box(input)));
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(after - before, 0, "forward allocated {} times", after - before);
    // The counter does see allocations, so the zero above means something.
    let v = std::hint::black_box(vec![1u8; 10]);
    assert!(ALLOCATIONS.load(Ordering::SeqCst) > after, "{v:?}");
}
