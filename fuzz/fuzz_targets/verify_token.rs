//! See `embedgate_fuzz::verify_token` for the input format and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| embedgate_fuzz::verify_token(data));
