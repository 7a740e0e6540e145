//! See `embedgate_fuzz::offline_check` for the input format and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| embedgate_fuzz::offline_check(data));
