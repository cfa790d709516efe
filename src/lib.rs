//! secretexec's steps as a library. The program is `src/main.rs`; this
//! target exists so that the fuzz targets in `fuzz/` can drive the pure
//! steps (spec parsing, value decoding, the dotenv reader) directly.

pub mod awsconfig;
pub mod cli;
pub mod dotenv;
pub mod env;
pub mod error;
pub mod exec;
pub mod export;
pub mod fetch;
pub mod files;
pub mod http;
pub mod init;
pub mod json;
pub mod log;
pub mod provider;
pub mod secret;
pub mod source;
