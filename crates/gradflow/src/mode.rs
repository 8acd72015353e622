//! Training flags off, gradients on: how a probe measures a model whose layers behave
//! differently in evaluation than in training.

use burn::module::{Flag, Module, ModuleMapper, Param};

/// `model` with every training flag (burn's `Param<Flag>`: BatchNorm's `training`, Dropout's)
/// set to `training`, and its parameters untouched, so that they still record gradients.
///
/// burn's [`Module::valid`] turns the flags off too, but also leaves the autodiff device, so a
/// pass through it has no gradient to measure. A probe that should see the model as it is
/// evaluated (BatchNorm normalizing with its running statistics, no dropout) and still
/// back-propagate measures `with_training(model.clone(), false)` instead. Cloning a module
/// shares its tensors, so the copy costs no parameter memory.
pub fn with_training<M: Module>(model: M, training: bool) -> M {
    // burn keeps a running statistic's latest update aside (per thread) until the module is
    // synchronized, which `valid` and `train` do, as evaluation does: without it the probe
    // would normalize with the statistics of one step before. The round trip shares the
    // tensors; the parameters come back as the same leaves, with the same ids.
    model.valid().train().map(&mut SetFlags(training))
}

struct SetFlags(bool);

impl ModuleMapper for SetFlags {
    fn map_flag(&mut self, flag: Param<Flag>) -> Param<Flag> {
        Param::initialized(flag.id, Flag::new(self.0))
    }
}
