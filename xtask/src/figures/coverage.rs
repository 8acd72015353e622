//! Which layers of a model have a metric, for readings that compare the input side with the
//! output side: the first and the last layer that have it (a frozen first layer has no
//! weight gradient, an output layer without a tap no δ), and the sentence that names the
//! layers without it and why, where the files tell.

use std::collections::BTreeMap;

use runfolder::metric;

use super::{capitalize, join};
use crate::subject::Subject;

/// The first and the last entry of a map by layer (`None` when it is empty). They are the
/// same entry when one layer alone has the metric.
pub(crate) fn ends<V: Copy>(values: &BTreeMap<u32, V>) -> Option<((u32, V), (u32, V))> {
    let (&f, &a) = values.first_key_value()?;
    let (&l, &b) = values.last_key_value()?;
    Some(((f, a), (l, b)))
}

/// What a reading measures of each layer, which decides why a layer can lack it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Measure {
    /// The weights' gradient (`grad_norm_weight`, and the histograms of its entries): absent
    /// where no weight got a gradient (frozen, or not in the graph) or the layer has no
    /// weights.
    WeightGradient,
    /// The update-to-weight ratio: absent where the layer has no weights.
    Update,
    /// δ = dL/dz (`delta_norm`): measured only at a `Taps::tap` in the model's forward pass.
    Delta,
}

impl Measure {
    /// The measure's name in a sentence ("has no …").
    fn what(self) -> &'static str {
        match self {
            Measure::WeightGradient => "weight gradient",
            Measure::Update => "update-to-weight ratio",
            Measure::Delta => "δ",
        }
    }
}

/// Layers as a sentence says them: `layer 1 (embed)`, `layers 1 (embed) and 9 (out)`,
/// `layers 1, 2 and 3`; more than six are cut to the first three and the last.
pub(crate) fn layers_phrase(s: &Subject<'_>, layers: &[u32]) -> String {
    if let [one] = layers {
        return s.layer_phrase(*one);
    }
    let item = |l: u32| s.layer_name(l).map_or_else(|| l.to_string(), |n| format!("{l} ({n})"));
    if layers.len() > 6 {
        let mut v: Vec<String> = layers[..3].iter().map(|&l| item(l)).collect();
        v.push(format!("… {}", layers.last().map_or_else(String::new, |&l| item(l))));
        return format!("{} layers ({})", layers.len(), v.join(", "));
    }
    format!("layers {}", join(layers.iter().map(|&l| item(l)).collect()))
}

/// The sentence naming the layers of the model (1 to L) that are not in `has`, and why,
/// where the files tell: "Layer 1 (embed) of net has no weight gradient (weights without a
/// gradient: frozen, or not in the graph)." `None` when every layer has the metric.
pub(crate) fn lacking<V>(s: &Subject<'_>, has: &BTreeMap<u32, V>, measure: Measure) -> Option<String> {
    let missing: Vec<u32> = (1..=s.layers()).filter(|l| !has.contains_key(l)).collect();
    if missing.is_empty() {
        return None;
    }
    // Group the layers by what the files say of them.
    let mut groups: BTreeMap<&'static str, Vec<u32>> = BTreeMap::new();
    for &layer in &missing {
        let found = s.run.layer_metrics(&s.model, layer);
        let weights = found.contains(metric::WEIGHT_NORM);
        let why = match (measure, weights) {
            _ if found.is_empty() => "no rows at all in layers.csv",
            (Measure::WeightGradient, true) => "weights without a gradient: frozen, or not in the graph",
            (Measure::WeightGradient | Measure::Update, false) => "no weights",
            (Measure::Update, true) => "no update_ratio rows in layers.csv",
            (Measure::Delta, _) => "no tap: delta_norm is measured only at a Taps::tap in the forward pass",
        };
        groups.entry(why).or_default().push(layer);
    }
    let clauses: Vec<String> = groups
        .into_iter()
        .map(|(why, layers)| {
            let verb = if layers.len() == 1 { "has" } else { "have" };
            format!("{} of {} {verb} no {} ({why})", layers_phrase(s, &layers), s.name(), measure.what())
        })
        .collect();
    Some(format!("{}.", capitalize(&clauses.join("; "))))
}
