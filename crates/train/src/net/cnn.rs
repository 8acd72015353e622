//! The CNN's config module: a `[models.<name>]` table of `kind = "cnn"` read into the models
//! crate's `CnnConfig` on the data's image shape (the keys of the other kinds refused by
//! name), the table with its defaults written out (block form, depth, initializer), and what
//! the manifest says of a CNN.

use super::mlp::default_init;
use super::spec::{InitSpec, ModelSpec};
use crate::config_error::{ConfigError, err};
use gradflow::runfolder::ModelInfo;
use models::CnnConfig;

impl ModelSpec {
    /// A CNN's config on images of `image` = `[channels, height, width]` (`None`: the data
    /// has no image shape); `key` names the model in messages (`models.plain`).
    pub fn to_cnn(&self, key: &str, image: Option<[usize; 3]>, output: usize, seed: u64) -> Result<CnnConfig, ConfigError> {
        let other = [
            ("hidden", self.hidden.is_some(), "a CNN's size is `channels` (per stage) and `depth` (blocks per stage)"),
            ("width", self.width.is_some(), "a CNN's size is `channels` (per stage) and `depth` (blocks per stage)"),
            ("layers", self.layers.is_some(), "a CNN's size is `channels` (per stage) and `depth` (blocks per stage)"),
            ("recurrent_init", self.recurrent_init.is_some(), "it is a recurrent model's"),
            ("forget_bias", self.forget_bias.is_some(), "it is an LSTM's"),
            ("preset", self.preset.is_some(), "the presets are MLPs"),
            ("output_activation", self.output_activation.0.is_some(), "the head gives logits"),
            ("projection", self.projection, "a residual CNN always projects the skips where the shape changes (1x1 convolutions)"),
            ("bias", !self.bias, "the convolutions always have biases"),
        ];
        if let Some((field, _, why)) = other.iter().find(|(_, set, _)| *set) {
            return Err(err(format!("{key}.{field}"), format!("does not apply to kind = \"cnn\": {why}")));
        }
        let channels =
            self.channels.clone().ok_or_else(|| err(format!("{key}.channels"), "missing: kind = \"cnn\" needs `channels`, one number per stage"))?;
        let activation = self.activation.ok_or_else(|| err(format!("{key}.activation"), "missing: give an `activation`"))?;
        let init = match &self.init {
            Some(spec) => spec.to_init(&format!("{key}.init"))?,
            None => default_init(activation),
        };
        let bias_init = self.bias_init(key)?;
        let image = image.ok_or_else(|| {
            err(
                format!("{key}.kind"),
                "a CNN reads images, and this dataset has no image shape (channels, height, width): use `mnist-10k`, `digits` or `idx:<dir>`",
            )
        })?;
        let config = CnnConfig {
            input: image,
            channels,
            depth: self.depth.unwrap_or(1),
            block: self.block.unwrap_or_default(),
            output,
            activation,
            init,
            bias_init,
            norm: self.norm,
            residual: self.residual,
            seed,
        };
        config.validate().map_err(|e| match e {
            models::ModelError::Invalid { field: "input", message } => err("data.source", message),
            models::ModelError::Invalid { field, message } => err(format!("{key}.{field}"), message),
        })?;
        Ok(config)
    }
}

/// An image shape that every CNN of `stages` stages fits: it checks every key but the
/// image's size before the data is loaded.
pub(crate) fn stand_in_image(spec: &ModelSpec) -> [usize; 3] {
    let stages = spec.channels.as_ref().map_or(1, Vec::len).min(16) as u32;
    [1, 3 << stages, 3 << stages]
}

/// Writes out the defaults the CNN took (initializer, depth, block).
pub(crate) fn resolve(spec: &mut ModelSpec) {
    if let Ok(c) = spec.to_cnn("", Some(stand_in_image(spec)), 1, 0) {
        spec.init = Some(InitSpec::from_init(&c.init));
        spec.depth = Some(c.depth);
        spec.block = Some(c.block);
    }
}

/// What the manifest says of a CNN beyond its layers.
pub(crate) fn info(c: &CnnConfig, base: ModelInfo) -> ModelInfo {
    ModelInfo {
        kind: Some("cnn".to_string()),
        activation: Some(c.activation.name().to_string()),
        output_activation: Some("none".to_string()),
        init: Some(c.init.to_string()),
        bias_init: Some(c.bias_init.to_string()),
        norm: Some(c.norm.name().to_string()),
        residual: Some(c.residual),
        block: Some(c.block.name().to_string()),
        ..base
    }
}
