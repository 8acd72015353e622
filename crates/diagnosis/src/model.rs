//! One model of a run as the diagnosis sees it: its manifest entry, its layers' names, and
//! the phrases that name them.

use runfolder::metric;
use runfolder::run::{Run, Source};
use runfolder::ModelInfo;

/// A model of a run, with what every finding needs.
pub struct Model<'a> {
    pub run: &'a Run,
    pub name: &'a str,
    pub info: &'a ModelInfo,
    /// The number of layers L.
    pub count: u32,
}

impl<'a> Model<'a> {
    pub fn new(run: &'a Run, info: &'a ModelInfo) -> Model<'a> {
        Model { run, name: &info.name, info, count: run.layer_count(&info.name) }
    }

    /// A layer's name: the manifest's, or `layer N` where it has none.
    pub fn layer_name(&self, layer: u32) -> String {
        let index = usize::try_from(layer).ok().and_then(|l| l.checked_sub(1));
        index
            .and_then(|i| self.info.layers.get(i))
            .map(|l| l.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("layer {layer}"))
    }

    /// A layer as a sentence names it: by number where the model's names are only positions
    /// (`layer 9` rather than `layers.8`, see [`Run::layer_names`]), else by name.
    pub fn layer_word(&self, layer: u32) -> String {
        match self.run.layer_names(self.name) {
            Some(_) => self.layer_name(layer),
            None => format!("layer {layer}"),
        }
    }

    /// The layers' names, in order.
    pub fn layer_names(&self, layers: &[u32]) -> Vec<String> {
        layers.iter().map(|&l| self.layer_name(l)).collect()
    }

    /// The layers in words: "layer 3", "layers 1-6", "layers 1-3 and 5", with the names
    /// after them where the model's layers have names of their own ("layers 1-2 (conv1,
    /// conv2)").
    pub fn layers_phrase(&self, layers: &[u32]) -> String {
        let mut sorted = layers.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for l in sorted.iter().copied() {
            match ranges.last_mut() {
                Some(r) if r.1 + 1 == l => r.1 = l,
                _ => ranges.push((l, l)),
            }
        }
        let parts: Vec<String> =
            ranges.iter().map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
        let numbers = crate::text::and_list(&parts);
        let word = if sorted.len() == 1 { "layer" } else { "layers" };
        match self.run.layer_names(self.name) {
            Some(_) if sorted.len() <= 4 => format!("{word} {numbers} ({})", self.layer_names(&sorted).join(", ")),
            Some(_) => format!(
                "{word} {numbers} ({} … {})",
                self.layer_name(sorted[0]),
                self.layer_name(*sorted.last().unwrap_or(&sorted[0]))
            ),
            None => format!("{word} {numbers}"),
        }
    }

    /// Whether the run says its telemetry was off.
    pub fn telemetry_off(&self) -> bool {
        self.run.manifest.telemetry.as_ref().is_some_and(|t| !t.enabled)
    }

    /// Whether the model has any row in `layers.csv`.
    pub fn has_measurements(&self) -> bool {
        self.run.layers.keys().any(|k| k.0 == self.name)
    }

    /// Whether the model clips its global gradient norm.
    pub fn clip(&self) -> Option<f64> {
        self.info.clip_grad_norm
    }

    /// The model's hidden activation as the manifest says it.
    pub fn activation(&self) -> Option<&str> {
        self.info.activation.as_deref().or_else(|| self.info.layers.first().and_then(|l| l.activation.as_deref()))
    }

    /// Whether the model is recurrent.
    pub fn is_recurrent(&self) -> bool {
        self.run.is_recurrent(self.name)
    }

    /// Notes each layer the manifest lists that has no weight gradient in any row, as frozen
    /// or outside the graph: the gradient findings leave it out.
    pub fn note_ungraded_layers(&self, not_judged: &mut Vec<String>) {
        if !self.has_measurements() {
            return;
        }
        let graded: std::collections::BTreeSet<u32> = [Source::Probe, Source::Train]
            .into_iter()
            .filter_map(|s| self.run.metric(self.name, s, metric::GRAD_NORM_WEIGHT))
            .flat_map(|per| per.keys().copied())
            .collect();
        let missing: Vec<u32> = (1..=self.count).filter(|l| !graded.contains(l)).collect();
        if !missing.is_empty() {
            not_judged.push(format!(
                "{} {} no weight gradient in any row (frozen, or outside the graph): left out of the gradient findings",
                self.layers_phrase(&missing),
                if missing.len() == 1 { "has" } else { "have" }
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runfolder::{LayerInfo, Manifest};

    fn run_of(names: &[&str]) -> Run {
        let layers = names.iter().map(|n| LayerInfo { name: n.to_string(), ..LayerInfo::default() }).collect();
        let model = ModelInfo { name: "m".to_string(), layers, ..ModelInfo::default() };
        Run::of_manifest(Manifest { models: vec![model], ..Manifest::default() })
    }

    #[test]
    fn layers_are_named_as_the_model_names_them() {
        let run = run_of(&["conv1", "conv2", "fc1", "fc2", "head"]);
        let m = Model::new(&run, &run.manifest.models[0]);
        assert_eq!(m.layers_phrase(&[2, 1]), "layers 1-2 (conv1, conv2)");
        assert_eq!(m.layers_phrase(&[1, 2, 3, 5, 4]), "layers 1-5 (conv1 … head)");
        assert_eq!(m.layers_phrase(&[1, 3]), "layers 1 and 3 (conv1, fc1)");
        assert_eq!(m.layer_word(5), "head");
        // An MLP's names are only positions: sentences say the number, the file keeps the name.
        let run = run_of(&["layers.0", "layers.1", "layers.2"]);
        let m = Model::new(&run, &run.manifest.models[0]);
        assert_eq!(m.layers_phrase(&[1, 2]), "layers 1-2");
        assert_eq!(m.layer_word(3), "layer 3");
        assert_eq!(m.layer_names(&[3]), ["layers.2"]);
        // A layer the manifest does not list is named by number.
        assert_eq!(m.layer_name(9), "layer 9");
    }
}
