//! The connector's configuration from arbitrary TOML text (`Config::from_toml_str`, what
//! `Config::load` runs after reading the file): a configuration or a `ConfigError` that lists
//! at least one problem, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveramp_connector::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_toml_str(text, "/nonexistent/liveramp-fuzz") {
        Ok(config) => {
            let _ = config.data_types();
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});
