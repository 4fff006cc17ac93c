//! Configuration: OpenPERouter's API types, the static files, validation and the validated model.

pub mod model;
pub mod resources;
pub mod static_files;
pub mod strict;
pub mod types;
pub mod validate;
