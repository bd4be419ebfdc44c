//! A cache hint: [`prefetch`] asks the processor to start loading the cache line holding a value
//! that a handler will read soon, so that its miss overlaps the work before. It computes nothing
//! and changes nothing a run computes (it reads no value and cannot fault), so it cannot touch
//! determinism: a run with or without it is the same run. On x86_64 it is the `prefetcht0`
//! instruction (through `safe_arch`, as the workspace forbids `unsafe`); elsewhere, nothing.

/// Starts loading the cache line of `value` into every cache level. Only a hint.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    safe_arch::prefetch_t0(value);
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = value;
}
