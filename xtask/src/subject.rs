//! A subject is one model of one run: the unit that gets a panel in every figure and a row
//! in the headline table, whether in a report (one run) or a comparison (several).

use std::collections::BTreeSet;

use crate::run::Run;

/// One model of one run, with the labels it is shown under.
#[derive(Clone, Debug)]
pub struct Subject<'a> {
    pub run: &'a Run,
    pub model: String,
    /// The run's label in a comparison (`None` in a single-run report).
    pub run_label: Option<String>,
}

impl<'a> Subject<'a> {
    /// Every model of one run, in the manifest's order.
    pub fn of_run(run: &'a Run, run_label: Option<String>) -> Vec<Subject<'a>> {
        run.models().iter().map(|m| Subject { run, model: m.name.clone(), run_label: run_label.clone() }).collect()
    }

    /// The model's number of layers L.
    pub fn layers(&self) -> u32 {
        self.run.layer_count(&self.model)
    }

    /// The model's activation: the manifest's (an MLP's hidden activation), else the one
    /// its layers' taps name when they agree, else their names joined (`relu/tanh`).
    pub fn activation(&self) -> Option<String> {
        let m = self.run.model(&self.model)?;
        if let Some(a) = &m.activation {
            return Some(a.clone());
        }
        let named: BTreeSet<&str> = m.layers.iter().filter_map(|l| l.activation.as_deref()).collect();
        (!named.is_empty()).then(|| named.into_iter().collect::<Vec<_>>().join("/"))
    }

    /// Whether the model's layers are shown by name (see [`Run::layer_names`]).
    pub fn named_layers(&self) -> bool {
        self.run.layer_names(&self.model).is_some()
    }

    /// The name layer `layer` (1-based) is shown under, when the model's layers are shown
    /// by name and this one has one.
    pub fn layer_name(&self, layer: u32) -> Option<String> {
        let names = self.run.layer_names(&self.model)?;
        let name = names.get(usize::try_from(layer).ok()?.checked_sub(1)?)?;
        (!name.is_empty()).then(|| name.to_string())
    }

    /// The layer on an axis (heatmap rows, bar categories): `conv1`, or `3`.
    pub fn layer_tick(&self, layer: u32) -> String {
        self.layer_name(layer).unwrap_or_else(|| layer.to_string())
    }

    /// The layer in a legend or a series name: `conv1`, or `layer 3`.
    pub fn layer_label(&self, layer: u32) -> String {
        self.layer_name(layer).unwrap_or_else(|| format!("layer {layer}"))
    }

    /// The layer in a sentence: `layer 1 (conv1)`, or `layer 3`.
    pub fn layer_phrase(&self, layer: u32) -> String {
        match self.layer_name(layer) {
            Some(name) => format!("layer {layer} ({name})"),
            None => format!("layer {layer}"),
        }
    }

    /// The short name used in sentences and legends: `sigmoid`, or `seed 2 · sigmoid`.
    pub fn name(&self) -> String {
        match &self.run_label {
            Some(r) => format!("{r} · {}", self.model),
            None => self.model.clone(),
        }
    }

    /// What the manifest says of the model's normalization, residual connections and
    /// gradient clipping, where any is set: `BatchNorm`, `LayerNorm, residual`, `clipped
    /// at 1` (`None` for a plain model, and for runs from before these settings).
    pub fn setup(&self) -> Option<String> {
        let m = self.run.model(&self.model)?;
        let mut parts = Vec::new();
        match m.norm.as_deref() {
            None | Some("none" | "") => {}
            Some("batch") => parts.push("BatchNorm".to_string()),
            Some("layer") => parts.push("LayerNorm".to_string()),
            Some(other) => parts.push(format!("{other} norm")),
        }
        if m.residual == Some(true) {
            parts.push("residual".to_string());
        }
        if let Some(c) = m.clip_grad_norm {
            // The value as the config wrote it (`1`, `0.5`), not rounded.
            parts.push(format!("clipped at {c}"));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    /// The panel title: the name with a recurrent model's kind and the activation (each when
    /// the name does not say it), the depth, a recurrent model's hidden size and the setup,
    /// e.g. `sigmoid · 4 layers`, `deep · relu, 8 layers`, `bn · sigmoid, 20 layers,
    /// BatchNorm` or `vanilla · RNN tanh, 2 layers, hidden 128`.
    pub fn title(&self) -> String {
        let depth = format!("{} layer{}", self.layers(), crate::run::plural(self.layers() as usize));
        let setup = self.setup().map(|s| format!(", {s}")).unwrap_or_default();
        let recurrent = self.run.is_recurrent(&self.model);
        let mut what = Vec::new();
        let named = |k: &String| self.model.to_lowercase().contains(&k.to_lowercase());
        if let Some(kind) = self.run.kind_shown(&self.model).filter(|k| recurrent && !named(k)) {
            what.push(kind);
        }
        if let Some(a) = self.activation().filter(|a| *a != self.model) {
            what.push(a);
        }
        let hidden = self
            .run
            .model(&self.model)
            .and_then(|m| m.hidden)
            .filter(|_| recurrent)
            .map(|h| format!(", hidden {h}"))
            .unwrap_or_default();
        if what.is_empty() {
            format!("{} · {depth}{hidden}{setup}", self.name())
        } else {
            format!("{} · {}, {depth}{hidden}{setup}", self.name(), what.join(" "))
        }
    }
}
