//! The backends `--backend` picks: gradflow's (the examples pick theirs the same way).

pub use gradflow::backend::{Backend, BackendError};
