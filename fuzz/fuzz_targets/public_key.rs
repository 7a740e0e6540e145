//! See `embedgate_fuzz::public_key` for the input format and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| embedgate_fuzz::public_key(data));
