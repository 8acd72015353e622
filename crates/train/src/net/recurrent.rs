//! The recurrent nets' config module: a `[models.<name>]` table of `kind = "rnn" | "lstm" |
//! "gru"` read into the models crate's `RecurrentConfig` (the MLP's keys refused by name), the
//! table with its defaults written out, and what the manifest says of a recurrent net.

use super::spec::{InitSpec, ModelSpec};
use crate::config_error::{ConfigError, err};
use gradflow::runfolder::ModelInfo;
use models::{Cell, Norm, RecurrentConfig};

impl ModelSpec {
    /// A recurrent model's config over `steps` steps of `input` features; `key` names it in
    /// messages (`models.lstm`). The keys of the MLP alone are refused by name.
    pub fn to_recurrent(&self, key: &str, input: usize, steps: usize, output: usize, seed: u64) -> Result<RecurrentConfig, ConfigError> {
        let cell = self.kind.cell().expect("called for a recurrent kind");
        let kind = self.kind.name();
        let mlp_only = [
            ("width", self.width.is_some()),
            ("layers", self.layers.is_some()),
            ("channels", self.channels.is_some()),
            ("block", self.block.is_some()),
            ("preset", self.preset.is_some()),
            ("activation", self.activation.is_some()),
            ("output_activation", self.output_activation.0.is_some()),
            ("norm", self.norm != Norm::None),
            ("residual", self.residual),
            ("projection", self.projection),
            ("bias", !self.bias),
        ];
        if let Some((field, _)) = mlp_only.iter().find(|(_, set)| *set) {
            let why = match *field {
                "width" | "layers" | "channels" | "block" => "a recurrent model's size is `hidden` (units) and `depth` (stacked layers)",
                "activation" => "the cells' activations are fixed (tanh, and the gates' sigmoids)",
                "output_activation" => "the read-out is linear",
                "bias" => "the cells always have biases",
                _ => "it is a feed-forward remedy; the recurrent models here have none",
            };
            return Err(err(format!("{key}.{field}"), format!("does not apply to kind = \"{kind}\": {why}")));
        }
        let hidden = self.hidden.ok_or_else(|| err(format!("{key}.hidden"), format!("missing: kind = \"{kind}\" needs a hidden size")))?;
        if hidden == 0 {
            return Err(err(format!("{key}.hidden"), "must be at least 1"));
        }
        let layers = self.depth.unwrap_or(1);
        if layers == 0 {
            return Err(err(format!("{key}.depth"), "must be at least 1 (the number of stacked recurrent layers)"));
        }
        if layers > 1000 {
            return Err(err(format!("{key}.depth"), format!("must be at most 1000 stacked layers, got {layers}")));
        }
        if self.forget_bias.is_some() && cell != Cell::Lstm {
            return Err(err(format!("{key}.forget_bias"), format!("applies to the LSTM's forget gate only, not to kind = \"{kind}\"")));
        }
        let default = models::pytorch_init(hidden);
        let init = match &self.init {
            Some(spec) => spec.to_init(&format!("{key}.init"))?,
            None => default.clone(),
        };
        let recurrent_init = match &self.recurrent_init {
            Some(spec) => spec.to_init(&format!("{key}.recurrent_init"))?,
            None => init.clone(),
        };
        let bias_init = self.bias_init(key)?;
        let config = RecurrentConfig {
            cell,
            input,
            steps,
            hidden,
            layers,
            output,
            init,
            recurrent_init,
            bias_init,
            forget_bias: self.forget_bias.unwrap_or(0.0),
            seed,
        };
        config.validate().map_err(|e| match e {
            models::ModelError::Invalid { field, message } => err(format!("{key}.{field}"), message),
        })?;
        Ok(config)
    }
}

/// Writes out the defaults the recurrent net took (initializers, depth, an LSTM's forget
/// bias), so that the saved config reruns exactly.
pub(crate) fn resolve(spec: &mut ModelSpec) {
    if let Ok(r) = spec.to_recurrent("", 1, 1, 1, 0) {
        spec.init = Some(InitSpec::from_init(&r.init));
        spec.recurrent_init = Some(InitSpec::from_init(&r.recurrent_init));
        spec.depth = Some(r.layers);
        if r.cell == Cell::Lstm {
            spec.forget_bias = Some(r.forget_bias);
        }
    }
}

/// What the manifest says of a recurrent net beyond its layers.
pub(crate) fn info(c: &RecurrentConfig, base: ModelInfo) -> ModelInfo {
    ModelInfo {
        kind: Some(c.cell.name().to_string()),
        hidden: Some(c.hidden),
        activation: Some("tanh".to_string()),
        output_activation: Some("none".to_string()),
        init: Some(if c.init == c.recurrent_init { c.init.to_string() } else { format!("{} (recurrent: {})", c.init, c.recurrent_init) }),
        bias_init: Some(c.bias_init.to_string()),
        forget_bias: (c.cell == Cell::Lstm).then_some(c.forget_bias),
        ..base
    }
}
