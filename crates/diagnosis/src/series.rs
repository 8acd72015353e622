//! Measurements in time order, and the rule that raises a finding: its condition in
//! [`MIN_CONSECUTIVE`] consecutive measurements, never in one alone. The probe's and the
//! training rows' measurements are one timeline: the probe at initialization (step 0), each
//! logged step (measured before its update), and each epoch's probe after its last step.

use std::collections::BTreeMap;

use runfolder::run::{Run, Source};

use crate::thresholds::MIN_CONSECUTIVE;

/// One measurement of a metric over a model's layers: where, when, and each layer's value.
#[derive(Clone, Debug, PartialEq)]
pub struct Moment {
    pub source: Source,
    pub epoch: u32,
    pub step: u64,
    /// Layer (1-based) to value; a layer without a row at this moment is absent.
    pub values: BTreeMap<u32, f64>,
}

impl Moment {
    /// `probe` or `train`, as the files say it.
    pub fn source_word(&self) -> &'static str {
        source_word(self.source)
    }
}

/// `probe` or `train`, as the files say it.
pub fn source_word(source: Source) -> &'static str {
    match source {
        Source::Train => runfolder::SOURCE_TRAIN,
        Source::Probe => runfolder::SOURCE_PROBE,
    }
}

/// The model's measurements of `metric` from `source`, in time order (by step, then epoch).
pub fn moments(run: &Run, model: &str, source: Source, metric: &str) -> Vec<Moment> {
    let mut by_time: BTreeMap<(u64, u32), BTreeMap<u32, f64>> = BTreeMap::new();
    if let Some(per) = run.metric(model, source, metric) {
        for (&layer, points) in per {
            for p in points {
                // A writer that repeated a row: the last one counts, as in the figures.
                by_time.entry((p.step, p.epoch)).or_default().insert(layer, p.value);
            }
        }
    }
    by_time.into_iter().map(|((step, epoch), values)| Moment { source, epoch, step, values }).collect()
}

/// Where a condition was seen in one series of measurements.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen<T> {
    /// The first measurement of the first run of [`MIN_CONSECUTIVE`] that showed it, and
    /// what it showed there.
    pub first: (Source, u32, u64),
    pub first_detail: T,
    /// What the last measurement of the series showed (`None`: no longer there).
    pub last_detail: Option<T>,
    /// The last measurement of the series.
    pub last: (Source, u32, u64),
}

impl<T> Seen<T> {
    pub fn persists(&self) -> bool {
        self.last_detail.is_some()
    }
}

/// The first run of [`MIN_CONSECUTIVE`] consecutive moments at which `check` finds the
/// condition (`Some(detail)`), and whether the last moment still shows it. Moments where
/// `check` cannot judge are to be left out by the caller.
pub fn first_streak<M, T: Clone>(
    moments: &[M],
    at: impl Fn(&M) -> (Source, u32, u64),
    check: impl Fn(&M) -> Option<T>,
) -> Option<Seen<T>> {
    let details: Vec<Option<T>> = moments.iter().map(&check).collect();
    let start = (0..details.len()).find(|&i| {
        i + MIN_CONSECUTIVE <= details.len() && details[i..i + MIN_CONSECUTIVE].iter().all(Option::is_some)
    })?;
    let first_detail = details[start].clone()?;
    let last_index = details.len() - 1;
    Some(Seen {
        first: at(&moments[start]),
        first_detail,
        last_detail: details[last_index].clone(),
        last: at(&moments[last_index]),
    })
}

/// The moment's place.
pub fn at(m: &Moment) -> (Source, u32, u64) {
    (m.source, m.epoch, m.step)
}

/// Two series as one timeline: by step, and at one step the training row (measured before
/// that step's update) before the probe (after it).
pub fn timeline<T>(mut a: Vec<T>, b: Vec<T>, at: impl Fn(&T) -> (Source, u32, u64)) -> Vec<T> {
    a.extend(b);
    a.sort_by_key(|x| {
        let (source, epoch, step) = at(x);
        (step, epoch, source == Source::Probe)
    });
    a
}

/// The least-squares slope of y against x (`None` for fewer than two distinct x).
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// The median of some values (`None` for none).
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 { values[n / 2] } else { 0.5 * (values[n / 2 - 1] + values[n / 2]) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_index(i: &(u64, bool)) -> (Source, u32, u64) {
        (Source::Train, 1, i.0)
    }

    #[test]
    fn one_measurement_alone_raises_nothing() {
        let series = [(1, false), (2, true), (4, false), (8, true), (16, true), (25, false)];
        let seen = first_streak(&series, at_index, |m| m.1.then_some(m.0)).expect("a streak at 8 and 16");
        assert_eq!(seen.first, (Source::Train, 1, 8));
        assert_eq!(seen.first_detail, 8);
        assert!(!seen.persists());
        let alone = [(1, false), (2, true), (4, false)];
        assert_eq!(first_streak(&alone, at_index, |m| m.1.then_some(m.0)), None);
        let held = [(1, true), (2, true)];
        assert!(first_streak(&held, at_index, |m| m.1.then_some(m.0)).expect("held").persists());
    }

    #[test]
    fn slope_and_median() {
        assert_eq!(slope(&[(1.0, 2.0), (2.0, 4.0), (3.0, 6.0)]), Some(2.0));
        assert_eq!(slope(&[(1.0, 2.0)]), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
