//! The scenario boundary: JSON in, a validated [`model::Scenario`] out, or errors that name
//! the file, the JSON path and the position. Nothing past this module sees raw JSON.

pub mod error;
mod fault_check;
mod graph_check;
pub mod load;
pub mod model;
pub mod schema;
pub mod source_partition;
mod sources;
pub mod validate;

pub use error::ScenarioError;
pub use load::{builtin, load_bytes, load_file, load_value};
pub use model::Scenario;
