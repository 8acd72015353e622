//! Finding a module's parameters and grouping them into layers, by burn's own traversal.

use crate::error::Error;
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::prelude::*;

/// One parameter tensor of the watched model.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// The module path, as burn-store names the tensor: `layers.3.weight`, `conv1.bias`.
    pub path: String,
    /// burn's id of the parameter.
    pub id: ParamId,
    /// The tensor's shape.
    pub shape: Vec<usize>,
    /// The index of its layer in [`Layout::layers`].
    pub layer: usize,
    /// A bias or shift (`bias`, `beta`): its gradient is `grad_norm_bias`, and it stays out of
    /// the layer's weight metrics and gradient histogram.
    pub is_bias: bool,
}

/// One layer: a named group of parameters, and possibly a tap of the same name.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSpec {
    /// The layer's name: its module path, a group's name, or a tap's name.
    pub name: String,
    /// Indices into [`Layout::params`].
    pub params: Vec<usize>,
}

/// The watched model's parameters and layers, layer 1 first.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// Every parameter tensor, in burn's traversal order.
    pub params: Vec<ParamSpec>,
    /// Every layer, layer 1 first.
    pub layers: Vec<LayerSpec>,
}

/// How parameters become layers: by default each parameter belongs to the module that owns
/// it (`layers.3.weight` to `layers.3`); a group gathers every parameter under any of its
/// prefixes into one layer of its own name.
#[derive(Clone, Debug, Default)]
pub struct Grouping {
    groups: Vec<(String, Vec<String>)>,
}

impl Grouping {
    /// No groups: every parameter in the layer of the module that owns it.
    ///
    /// ```
    /// use gradflow::Grouping;
    /// // A residual block's convolution and norm as one layer named `block1`.
    /// let grouping = Grouping::new().group("block1", &["block1.conv", "block1.norm"]);
    /// # let _ = grouping;
    /// ```
    pub fn new() -> Grouping {
        Grouping::default()
    }

    /// Every parameter whose path is `prefix` or lies under it (`prefix.…`) joins layer `name`.
    pub fn group(mut self, name: impl Into<String>, prefixes: &[&str]) -> Grouping {
        self.groups.push((name.into(), prefixes.iter().map(|p| p.to_string()).collect()));
        self
    }

    fn layer_of(&self, path: &str) -> Option<&str> {
        self.groups
            .iter()
            .find(|(_, prefixes)| prefixes.iter().any(|p| path == p || path.strip_prefix(p.as_str()).is_some_and(|r| r.starts_with('.'))))
            .map(|(name, _)| name.as_str())
    }
}

/// The names burn gives a module's running statistics (`BatchNorm`'s `running_mean` and
/// `running_var`): burn's traversal visits them like parameters, but they are state that no
/// gradient reaches, so they are not watched.
fn is_running_state(leaf: &str) -> bool {
    leaf.starts_with("running_")
}

fn is_bias(leaf: &str) -> bool {
    matches!(leaf, "bias" | "beta")
}

/// Visits every float parameter with its path. burn's derived traversal enters a struct
/// field (the parameter's own field included) before visiting it, so the path stack at a
/// parameter ends with the parameter's field name.
pub(crate) struct PathVisitor<F> {
    path: Vec<String>,
    pub(crate) f: F,
}

impl<F> PathVisitor<F> {
    pub(crate) fn new(f: F) -> PathVisitor<F> {
        PathVisitor { path: Vec::new(), f }
    }
}

/// What a [`PathVisitor`] calls at each parameter.
pub(crate) trait AtParam {
    fn at<const D: usize>(&mut self, path: &[String], param: &Param<Tensor<D>>);
}

impl<F: AtParam> ModuleVisitor for PathVisitor<F> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.path.last().is_some_and(|leaf| is_running_state(leaf)) {
            return;
        }
        self.f.at(&self.path, param);
    }
}

struct Collect(Vec<(String, ParamId, Vec<usize>)>);

impl AtParam for Collect {
    fn at<const D: usize>(&mut self, path: &[String], param: &Param<Tensor<D>>) {
        // A parameter at the root (a model that is a bare `Param`) has no path: name it by
        // its place.
        let name = if path.is_empty() { format!("param{}", self.0.len()) } else { path.join(".") };
        self.0.push((name, param.id, param.val().dims().to_vec()));
    }
}

impl Layout {
    /// The parameters of `model`, in burn's traversal order (the order of the struct's fields,
    /// which for most models is the forward order), grouped into layers.
    ///
    /// Errors when the model has no parameters (the error names its type) or a group matches
    /// none.
    pub fn of<M: Module>(model: &M, grouping: &Grouping) -> Result<Layout, Error> {
        let mut visitor = PathVisitor::new(Collect(Vec::new()));
        model.visit(&mut visitor);
        let found = visitor.f.0;
        if found.is_empty() {
            return Err(Error::NoParameters(std::any::type_name::<M>().to_string()));
        }
        let mut layers: Vec<LayerSpec> = Vec::new();
        let mut params = Vec::with_capacity(found.len());
        for (i, (path, id, shape)) in found.into_iter().enumerate() {
            let (owner, leaf) = path.rsplit_once('.').unwrap_or(("", path.as_str()));
            let name = grouping.layer_of(&path).map(str::to_string).unwrap_or_else(|| {
                if owner.is_empty() { path.clone() } else { owner.to_string() }
            });
            let layer = match layers.iter().position(|l| l.name == name) {
                Some(k) => k,
                None => {
                    layers.push(LayerSpec { name, params: Vec::new() });
                    layers.len() - 1
                }
            };
            layers[layer].params.push(i);
            params.push(ParamSpec { is_bias: is_bias(leaf), path, id, shape, layer });
        }
        if let Some((name, _)) = grouping.groups.iter().find(|(name, _)| !layers.iter().any(|l| &l.name == name)) {
            return Err(Error::EmptyGroup(name.clone()));
        }
        Ok(Layout { params, layers })
    }

    /// The index of the layer called `name`.
    pub fn layer(&self, name: &str) -> Option<usize> {
        self.layers.iter().position(|l| l.name == name)
    }
}
