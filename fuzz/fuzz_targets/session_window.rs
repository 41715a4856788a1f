#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| smtp_courier::fuzzing::session_window(data));
