//! What can go wrong when watching a model. Each message is one line naming the culprit.

/// An error of the watcher or of the run folder it writes.
///
/// Its `Debug` form is its one-line message, so that a `main` that returns it with `?`
/// (through `Box<dyn Error>`, which prints `Debug`) prints the sentence, not the variant.
#[derive(thiserror::Error)]
pub enum Error {
    /// The model has no float parameters: nothing to watch.
    #[error("model `{0}` has no parameters to watch")]
    NoParameters(String),
    /// A [`crate::Grouping`] group whose prefixes match no parameter.
    #[error("layer group `{0}` matches no parameter of the model")]
    EmptyGroup(String),
    /// A tap name used twice in one forward pass.
    #[error("tap `{0}` is used twice in one forward pass; give each tap its own name")]
    DuplicateTap(String),
    /// The model's parameters changed after it was watched.
    #[error("model `{name}` had {expected} parameter tensors when it was watched and has {found} now")]
    ModelChanged {
        /// The watched model.
        name: String,
        /// Parameter tensors when watched.
        expected: usize,
        /// Parameter tensors now.
        found: usize,
    },
    /// Two models of one run with the same name.
    #[error("model `{0}` is recorded twice in this run")]
    DuplicateModel(String),
    /// A model name that was never added to the run.
    #[error("model `{0}` was not added to the run")]
    UnknownModel(String),
    /// A non-finite loss, gradient or weight: the run has ended as `diverged`.
    #[error("model `{model}` diverged at step {step}: non-finite gradient or value in {path}")]
    Diverged {
        /// The model.
        model: String,
        /// The optimizer step, from 1.
        step: usize,
        /// The first non-finite parameter's path, or "the loss".
        path: String,
    },
    /// The run folder could not be written.
    #[error(transparent)]
    Write(#[from] runfolder::WriteError),
    /// A run folder that cannot be resumed, or a misuse of a run that the message explains.
    #[error("{0}")]
    Run(String),
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
