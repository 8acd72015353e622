//! What can go wrong when watching a model. Each message is one line naming the culprit.

/// An error of the watcher or of the run folder it writes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the model has no parameters to watch")]
    NoParameters,
    #[error("layer group `{0}` matches no parameter of the model")]
    EmptyGroup(String),
    #[error("tap `{0}` is used twice in one forward pass; give each tap its own name")]
    DuplicateTap(String),
    #[error("model `{name}` had {expected} parameter tensors when it was watched and has {found} now")]
    ModelChanged { name: String, expected: usize, found: usize },
    #[error("model `{0}` is recorded twice in this run")]
    DuplicateModel(String),
    #[error("model `{0}` was not added to the run")]
    UnknownModel(String),
    #[error("model `{model}` diverged at step {step}: non-finite gradient or value in {path}")]
    Diverged { model: String, step: usize, path: String },
    #[error(transparent)]
    Write(#[from] runfolder::WriteError),
}
