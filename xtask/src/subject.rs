//! A subject is one model of one run: the unit that gets a panel in every figure and a row
//! in the headline table, whether in a report (one run) or a comparison (several).

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

    /// The model's hidden activation, from the manifest.
    pub fn activation(&self) -> Option<&str> {
        self.run.model(&self.model).and_then(|m| m.activation.as_deref())
    }

    /// The short name used in sentences and legends: `sigmoid`, or `seed 2 · sigmoid`.
    pub fn name(&self) -> String {
        match &self.run_label {
            Some(r) => format!("{r} · {}", self.model),
            None => self.model.clone(),
        }
    }

    /// The panel title: the name with the activation (when the name does not say it) and
    /// the depth, e.g. `sigmoid · 4 layers` or `deep · relu, 8 layers`.
    pub fn title(&self) -> String {
        let depth = format!("{} layer{}", self.layers(), crate::run::plural(self.layers() as usize));
        match self.activation() {
            Some(a) if a != self.model => format!("{} · {a}, {depth}", self.name()),
            _ => format!("{} · {depth}", self.name()),
        }
    }
}
