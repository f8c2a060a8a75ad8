#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| logpivot_fuzz::partial(data));
