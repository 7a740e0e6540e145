//! See `embedgate_fuzz::admin::admin_bodies` for the input format and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| embedgate_fuzz::admin::admin_bodies(data));
