//! Request and response types of the daemons' HTTP APIs, shared by servers and clients.

mod health;
pub mod memory;
pub mod memory_import;
pub mod memory_search;
pub mod memory_share;
pub mod memory_transfer;
pub mod mesh;
pub mod openai;
pub mod supervisor;

pub use health::{Health, HealthStatus, Version, API_VERSION};
