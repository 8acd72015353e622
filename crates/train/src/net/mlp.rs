//! The MLP's config module: a `[models.<name>]` table of `kind = "mlp"` read into the models
//! crate's `MlpConfig` (its keys checked, presets and default initializers applied), the
//! table with its defaults written out, and what the manifest says of an MLP.

use super::spec::ModelSpec;
use crate::config_error::{ConfigError, err};
use chain::Activation;
use gradflow::runfolder::ModelInfo;
use models::{Init, MlpConfig};

impl ModelSpec {
    /// The model's config; `key` names it in messages (`models.sigmoid`).
    pub fn to_mlp(&self, key: &str, input: usize, output: usize, seed: u64) -> Result<MlpConfig, ConfigError> {
        for (field, set) in [("hidden", self.hidden.is_some()), ("recurrent_init", self.recurrent_init.is_some()), ("forget_bias", self.forget_bias.is_some())] {
            if set {
                return Err(err(format!("{key}.{field}"), "applies to recurrent models only (kind = \"rnn\", \"lstm\" or \"gru\")"));
            }
        }
        for (field, set) in [("channels", self.channels.is_some()), ("block", self.block.is_some())] {
            if set {
                return Err(err(format!("{key}.{field}"), "applies to CNNs only (kind = \"cnn\")"));
            }
        }
        let preset = match self.preset.as_deref() {
            None => None,
            Some(p) => Some(models::presets::by_name(p, input, 1, 1, output).ok_or_else(|| {
                err(
                    format!("{key}.preset"),
                    format!("unknown preset `{p}`, expected one of {}", models::presets::NAMES.join(", ")),
                )
            })?),
        };
        let hidden = match (&self.layers, self.depth, self.width) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(err(format!("{key}.layers"), "give either `layers` or `depth` and `width`, not both"));
            }
            (Some(layers), None, None) => {
                if let Some(i) = layers.iter().position(|&w| w == 0) {
                    return Err(err(format!("{key}.layers"), format!("layer {} has width 0", i + 1)));
                }
                layers.clone()
            }
            (None, Some(depth), Some(width)) => {
                if depth == 0 {
                    return Err(err(format!("{key}.depth"), "must be at least 1 (a model with no hidden layer has no depth to study)"));
                }
                if depth > 10_000 {
                    return Err(err(format!("{key}.depth"), format!("must be at most 10000, got {depth}")));
                }
                if width == 0 {
                    return Err(err(format!("{key}.width"), "must be at least 1"));
                }
                vec![width; depth]
            }
            (None, None, _) => return Err(err(format!("{key}.depth"), "missing: give `depth` and `width`, or `layers`")),
            (None, Some(_), None) => return Err(err(format!("{key}.width"), "missing: `depth` needs a `width`")),
        };
        let activation = self.activation.or(preset.as_ref().map(|p| p.activation)).ok_or_else(|| {
            err(format!("{key}.activation"), "missing: give an `activation` or a `preset`")
        })?;
        let init = match (&self.init, &preset) {
            (Some(spec), _) => spec.to_init(&format!("{key}.init"))?,
            (None, Some(p)) => p.init.clone(),
            (None, None) => default_init(activation),
        };
        let bias_init = self.bias_init(key)?;
        let mlp = MlpConfig {
            input,
            hidden,
            output,
            activation,
            output_activation: self.output_activation.0,
            bias: self.bias,
            init,
            bias_init,
            norm: self.norm,
            residual: self.residual,
            projection: self.projection,
            seed,
        };
        mlp.validate().map_err(|e| match e {
            models::ModelError::Invalid { field, message } => err(format!("{key}.{field}"), message),
        })?;
        Ok(mlp)
    }
}

/// The customary initialization for an activation: He for the ReLU family, Glorot's for
/// the rest.
pub fn default_init(activation: Activation) -> Init {
    match activation {
        Activation::Relu | Activation::LeakyRelu => Init::he_normal(),
        _ => Init::xavier_uniform(),
    }
}

/// Writes out the defaults the MLP took (activation, initializer, depth), so that the saved
/// config reruns exactly even if a default changes later.
pub(crate) fn resolve(spec: &mut ModelSpec) {
    if let Ok(mlp) = spec.to_mlp("", 1, 1, 0) {
        spec.activation = Some(mlp.activation);
        spec.init = Some(super::spec::InitSpec::from_init(&mlp.init));
        if spec.layers.is_none() {
            spec.depth = Some(mlp.hidden.len());
        }
    }
}

/// What the manifest says of an MLP beyond its layers.
pub(crate) fn info(c: &MlpConfig, base: ModelInfo) -> ModelInfo {
    ModelInfo {
        kind: Some("mlp".to_string()),
        activation: Some(c.activation.name().to_string()),
        output_activation: Some(c.output_activation.map_or("none", |a| a.name()).to_string()),
        init: Some(c.init.to_string()),
        bias_init: Some(c.bias_init.to_string()),
        widths: c.sizes(),
        norm: Some(c.norm.name().to_string()),
        residual: Some(c.residual),
        ..base
    }
}
