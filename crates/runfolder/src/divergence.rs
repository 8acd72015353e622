//! Where a model's training went non-finite: the manifest's per-model `diverged` entry, or,
//! for a run written before models had one, what the run's `reason` says.
//!
//! A run written since then keeps training its other models when one diverges, and each
//! diverged model carries its own entry. An older run stopped whole at the first non-finite
//! value, with status `diverged` and one sentence naming the step and the model: "step 123
//! (epoch 1), model relu: …" from `train`'s loop, "model relu: non-finite gradient or value
//! at the end of epoch 2 in …" from its probe, or "model `relu` diverged at step 12: …" from
//! the gradflow library. The sentence is read for the model's name and the step; a name is
//! only matched with the delimiters these sentences put around it, so that `relu` is not
//! found in `relu2`.

use crate::run::{Run, Status};

/// Where and why one model's training stopped on a non-finite value.
#[derive(Clone, Debug, PartialEq)]
pub struct Diverged {
    /// The epoch of the step (0: at initialization), when known.
    pub epoch: Option<u32>,
    /// The step whose loss or gradient was not finite (0: at initialization), when known.
    pub step: Option<u64>,
    /// What went non-finite, as the run said it.
    pub reason: String,
}

impl Diverged {
    /// Where, for a sentence or a table cell: `at step 123`, `at initialization`, `at the end
    /// of epoch 2`, or nothing when the run did not say.
    pub fn place(&self) -> Option<String> {
        match (self.step, self.epoch) {
            (Some(0), _) | (None, Some(0)) => Some("at initialization".to_string()),
            (Some(s), _) => Some(format!("at step {s}")),
            (None, Some(e)) => Some(format!("in epoch {e}")),
            (None, None) => None,
        }
    }

    /// `diverged at step 123`, or `diverged` when the place is not known.
    pub fn phrase(&self) -> String {
        self.place().map_or_else(|| "diverged".to_string(), |p| format!("diverged {p}"))
    }
}

impl Run {
    /// Where the model diverged, or `None` when it did not (or the run does not say which
    /// model did).
    pub fn diverged(&self, model: &str) -> Option<Diverged> {
        let info = self.model(model)?;
        if let Some(d) = &info.diverged {
            return Some(Diverged {
                epoch: u32::try_from(d.epoch).ok(),
                step: u64::try_from(d.step).ok(),
                reason: d.reason.clone(),
            });
        }
        // A run with per-model entries names every model that diverged; the run's reason
        // is read only in runs from before them.
        if self.manifest.status != Status::Diverged || self.models().iter().any(|m| m.diverged.is_some()) {
            return None;
        }
        let reason = self.manifest.reason.as_deref().unwrap_or("").trim();
        let named =
            |name: &str| reason.contains(&format!("model {name}:")) || reason.contains(&format!("model `{name}`"));
        // A run of one model that diverged without naming it diverged in that model.
        if !named(model) && !(self.models().len() == 1 && !self.models().iter().any(|m| named(&m.name))) {
            return None;
        }
        let mut step = number_after(reason, "step ");
        let mut epoch = number_after(reason, "(epoch ").or_else(|| number_after(reason, "end of epoch "));
        if reason.contains("at initialization") {
            step = Some(0);
            epoch = Some(0);
        }
        // A probe at the end of an epoch names only the epoch: its step is that epoch's
        // last, which is always logged.
        if step.is_none()
            && let Some(e) = epoch
        {
            step = self.steps.iter().filter(|r| r.model == model && u64::from(r.epoch) == e).map(|r| r.step).max();
        }
        Some(Diverged {
            epoch: epoch.and_then(|e| u32::try_from(e).ok()),
            step,
            reason: reason.trim_end_matches('.').to_string(),
        })
    }

    /// Notes a model that diverged while the run went on: its entry says where, and its
    /// rows stop there. (A run that stopped whole says so in its status note.)
    pub(crate) fn note_divergences(&mut self) {
        let notes: Vec<String> = self
            .models()
            .iter()
            .filter(|m| m.diverged.is_some())
            .filter_map(|m| {
                let d = self.diverged(&m.name)?;
                let epoch = d.epoch.filter(|_| d.step != Some(0)).map(|e| format!(" (epoch {e})")).unwrap_or_default();
                let why = d.reason.trim();
                let why = if why.is_empty() { String::new() } else { format!(": {}", why.trim_end_matches('.')) };
                Some(format!(
                    "Model “{}” {}{epoch}{why}. Its training stopped there, so its rows end there; the values that were not finite are not in the files.",
                    m.name,
                    d.phrase()
                ))
            })
            .collect();
        self.notes.extend(notes);
    }
}

/// The whole number right after the first `prefix` in `text`.
fn number_after(text: &str, prefix: &str) -> Option<u64> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{Manifest, StepRow};

    fn run(manifest: serde_json::Value) -> Run {
        let manifest: Manifest = serde_json::from_value(manifest).expect("manifest");
        let mut run = Run::of_manifest(manifest);
        for (epoch, step) in [(1, 4), (1, 8), (2, 12), (2, 16)] {
            for model in ["relu", "relu2"] {
                run.steps.push(StepRow {
                    model: model.into(),
                    epoch,
                    step,
                    loss: 1.0,
                    grad_norm: 1.0,
                    grad_norm_clipped: Some(1.0),
                    lr: None,
                });
            }
        }
        run
    }

    fn old(reason: &str) -> Run {
        run(serde_json::json!({
            "status": "diverged", "reason": reason,
            "models": [{ "name": "relu", "layers": [] }, { "name": "relu2", "layers": [] }]
        }))
    }

    #[test]
    fn a_per_model_entry_says_where() {
        let mut r = run(serde_json::json!({
            "status": "completed",
            "models": [
                { "name": "relu", "layers": [], "diverged": { "epoch": 2, "step": 123, "reason": "non-finite gradient in layers.0.weight" } },
                { "name": "relu2", "layers": [] }
            ]
        }));
        let d = r.diverged("relu").expect("diverged");
        assert_eq!((d.epoch, d.step), (Some(2), Some(123)));
        assert_eq!(d.phrase(), "diverged at step 123");
        assert_eq!(r.diverged("relu2"), None);
        r.note_divergences();
        assert_eq!(r.notes.len(), 1);
        assert!(
            r.notes[0]
                .starts_with("Model “relu” diverged at step 123 (epoch 2): non-finite gradient in layers.0.weight."),
            "{}",
            r.notes[0]
        );
    }

    #[test]
    fn an_older_run_names_the_model_and_step_in_its_reason() {
        let r = old("step 123 (epoch 1), model relu: non-finite gradient or value in layers.0.weight");
        assert_eq!(r.diverged("relu").map(|d| (d.epoch, d.step)), Some((Some(1), Some(123))));
        // `relu` is not `relu2`, nor the other way round.
        assert_eq!(r.diverged("relu2"), None);
        let r = old("model `relu2` diverged at step 12: non-finite gradient or value in layers.1.bias");
        assert_eq!(r.diverged("relu2").map(|d| d.step), Some(Some(12)));
        assert_eq!(r.diverged("relu"), None);
        // A probe names its epoch; the step is that epoch's last logged one.
        let r = old("model relu2: non-finite gradient or value at the end of epoch 2 in layers.0.weight");
        assert_eq!(r.diverged("relu2").map(|d| (d.epoch, d.step)), Some((Some(2), Some(16))));
        let d = old("model relu: non-finite gradient or value at initialization in layers.0.weight")
            .diverged("relu")
            .expect("diverged");
        assert_eq!(d.phrase(), "diverged at initialization");
        // A reason that names no model leaves the models of a two-model run unknown.
        assert_eq!(old("the loss became NaN").diverged("relu"), None);
        // No notes: the run's status note says it.
        let mut r = old("step 3 (epoch 1), model relu: x");
        r.note_divergences();
        assert!(r.notes.is_empty());
    }

    #[test]
    fn a_run_of_one_model_diverged_in_it() {
        let r = run(serde_json::json!({
            "status": "diverged", "reason": "loss became NaN at step 13",
            "models": [{ "name": "m", "layers": [] }]
        }));
        let d = r.diverged("m").expect("diverged");
        assert_eq!(d.step, Some(13));
        assert_eq!(d.reason, "loss became NaN at step 13");
    }
}
