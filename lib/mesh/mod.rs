//! What claude-meshd takes in from the broker (NATS), parsed and checked once, here so that
//! the fuzz targets reach the same code the daemon runs:
//!
//! - [`envelope`]: the signed, encrypted envelope of a message, and how one is opened;
//! - [`presence_record`]: the signed presence record of a session in the presence bucket;
//! - [`fields`]: bounds and characters of every field either carries;
//! - [`keys`]: member keys, which sign both and open DMs.

pub mod envelope;
pub mod fields;
pub mod keys;
pub mod presence_record;
