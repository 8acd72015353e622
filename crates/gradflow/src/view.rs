//! What the user sees while a run trains: a live per-layer view on a terminal (indicatif),
//! plain periodic lines anywhere else, or nothing (tests).

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// One layer's line in the view.
#[derive(Clone, Debug)]
pub struct LayerView {
    /// The layer's name (its module path, such as `conv2` or `layers.3`).
    pub name: String,
    /// `None` when the layer got no gradient (frozen, or not in the graph).
    pub grad_norm: Option<f64>,
    /// Its gradient norm over the last layer's (NaN when either is missing).
    pub ratio_to_last: f64,
    /// The share of saturated outputs (sigmoid, tanh).
    pub saturation: Option<f64>,
    /// The share of dead units.
    pub dead_fraction: Option<f64>,
}

/// A model's latest logged step.
#[derive(Clone, Debug)]
pub struct ModelView {
    /// The model's name.
    pub name: String,
    /// The epoch, from 1.
    pub epoch: usize,
    /// The optimizer step, from 1.
    pub step: usize,
    /// The step's loss.
    pub loss: f64,
    /// Every layer, layer 1 first.
    pub layers: Vec<LayerView>,
    /// The first recurrent layer's ‖dL/dh_t‖ for t = 1, 2, …, T (empty for a model without
    /// time taps).
    pub time_steps: Vec<f64>,
}

/// Receives progress from the training loop, which runs on the run's own threads (hence
/// `Send`).
pub trait View: Send {
    /// The run starts: its epochs and steps per epoch (0 when unknown).
    fn start(&mut self, _epochs: usize, _steps_per_epoch: usize) {}
    /// A model joins the run, with its layers' names.
    fn start_model(&mut self, _name: &str, _layers: &[String]) {}
    /// A step is done (batch counted from 0 within its epoch).
    fn step(&mut self, _epoch: usize, _batch: usize) {}
    /// A logged step's measurements.
    fn layers(&mut self, _model: &ModelView) {}
    /// A model's epoch ended: its training and test loss and accuracy.
    fn epoch_end(&mut self, _model: &str, _epoch: usize, _train: (f64, Option<f64>), _test: Option<(f64, Option<f64>)>) {}
    /// A line about the run (a model that stopped), shown above the progress.
    fn note(&mut self, _line: &str) {}
    /// The run ended.
    fn finish(&mut self) {}
}

/// Shows nothing.
pub struct Silent;
impl View for Silent {}

/// The view that suits stdout: live on a terminal, plain lines otherwise.
pub fn for_stdout() -> Box<dyn View> {
    if std::io::stdout().is_terminal() { Box::new(Live::new()) } else { Box::new(Plain::new()) }
}

/// The log-scale bar: one character per decade between 1e-12 and 1e+2.
pub fn log_bar(v: f64, width: usize) -> String {
    const LO: f64 = -12.0;
    const HI: f64 = 2.0;
    if v.is_nan() || v <= 0.0 {
        return format!("{:<width$}", "(zero)");
    }
    let frac = ((v.log10() - LO) / (HI - LO)).clamp(0.0, 1.0);
    let n = (frac * width as f64).round() as usize;
    format!("{}{}", "█".repeat(n), "·".repeat(width - n))
}

/// One character per time step (at most `width`, spread over 1..=T), its height the decade of
/// ‖dL/dh_t‖ between the smallest and the largest of the steps shown, and the range: how the
/// error fades from the last step back to the first.
pub fn time_line(norms: &[f64], width: usize) -> String {
    const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let shown = shown_layers(norms.len(), width);
    let logs: Vec<Option<f64>> = shown.iter().map(|&i| (norms[i] > 0.0 && norms[i].is_finite()).then(|| norms[i].log10())).collect();
    let (lo, hi) = logs.iter().flatten().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let bars: String = logs
        .iter()
        .map(|v| match v {
            None => ' ',
            Some(v) if hi > lo => LEVELS[(((v - lo) / (hi - lo)) * 7.0).round() as usize],
            Some(_) => LEVELS[7],
        })
        .collect();
    let (first, last) = (norms.first().copied().unwrap_or(0.0), norms.last().copied().unwrap_or(0.0));
    format!("  |dL/dh_t|  t=1 {bars} t={}   {first:.1e} .. {last:.1e}", norms.len())
}

/// The health column: saturation for sigmoid and tanh layers, dead units for ReLU layers.
fn health(l: &LayerView) -> String {
    match (l.saturation, l.dead_fraction) {
        (Some(s), _) => format!("sat {:>5.1}%", 100.0 * s),
        (_, Some(d)) => format!("dead {:>4.1}%", 100.0 * d),
        _ => String::new(),
    }
}

/// Which layers to draw for a model with `n` layers: all when few, otherwise a spread that
/// always includes the first and the last.
fn shown_layers(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    let mut v: Vec<usize> = (0..max).map(|i| i * (n - 1) / (max - 1)).collect();
    v.dedup();
    v
}

/// The line that ends a model's epoch: loss and, for classes, accuracy.
fn epoch_line(model: &str, epoch: usize, train: (f64, Option<f64>), test: Option<(f64, Option<f64>)>) -> String {
    let acc = |a: Option<f64>| a.map_or(String::new(), |a| format!(" acc {:.1}%", 100.0 * a));
    let test = test.map_or(String::new(), |(l, a)| format!("  test loss {l:.4}{}", acc(a)));
    format!("epoch {epoch:>3} {model:<12} train loss {:.4}{}{test}", train.0, acc(train.1))
}

/// The text of one layer line: its number and name, the bar, the norm and its ratio to the
/// last layer's, and its health.
pub fn layer_line(index: usize, l: &LayerView) -> String {
    let label = format!("L{} {}", index + 1, short(&l.name, 12));
    match l.grad_norm {
        Some(g) => format!("  {label:<16} {} {g:>9.2e}  x{:<9.2e} {}", log_bar(g, 28), l.ratio_to_last, health(l)),
        None => format!("  {label:<16} {:<28} {:>9}  {:<10} {}", "(no gradient)", "-", "", health(l)),
    }
}

/// `name`, cut to `max` characters from the left (the end of a module path names the layer).
fn short(name: &str, max: usize) -> String {
    let n = name.chars().count();
    if n <= max { name.to_string() } else { format!("…{}", name.chars().skip(n + 1 - max).collect::<String>()) }
}

const MAX_LAYERS_SHOWN: usize = 12;

/// A redrawing terminal view: a progress bar, then per model a header and one line per layer.
pub struct Live {
    multi: MultiProgress,
    progress: ProgressBar,
    models: HashMap<String, (ProgressBar, Vec<(usize, ProgressBar)>)>,
    /// Per recurrent model, its line of time-step bars, added below its layers when its
    /// first time steps arrive.
    times: HashMap<String, ProgressBar>,
    order: Vec<String>,
}

impl Live {
    /// A live view on stdout.
    pub fn new() -> Live {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout_with_hz(8));
        let progress = multi.add(ProgressBar::new(0));
        progress.set_style(
            ProgressStyle::with_template("{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} steps  {elapsed_precise} (eta {eta})")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        Live { multi, progress, models: HashMap::new(), times: HashMap::new(), order: Vec::new() }
    }
}

impl Default for Live {
    fn default() -> Self {
        Live::new()
    }
}

impl View for Live {
    fn start(&mut self, epochs: usize, steps_per_epoch: usize) {
        self.progress.set_length((epochs * steps_per_epoch) as u64);
        self.progress.set_prefix("training");
    }

    fn start_model(&mut self, name: &str, layers: &[String]) {
        let text = ProgressStyle::with_template("{msg}").expect("a valid template");
        let header = self.multi.add(ProgressBar::new(0).with_style(text.clone()));
        header.set_message(format!("{name}: waiting for the first step   (bar: |grad W| on a log scale, 1e-12 to 1e2)"));
        let lines = shown_layers(layers.len(), MAX_LAYERS_SHOWN)
            .into_iter()
            .map(|i| (i, self.multi.add(ProgressBar::new(0).with_style(text.clone()))))
            .collect();
        self.models.insert(name.to_string(), (header, lines));
        self.order.push(name.to_string());
    }

    fn step(&mut self, _epoch: usize, _batch: usize) {
        self.progress.inc(1);
    }

    fn layers(&mut self, m: &ModelView) {
        if let Some((header, lines)) = self.models.get(&m.name) {
            header.set_message(format!(
                "{}  epoch {} step {}  loss {:.4}      |grad W|   vs last",
                m.name, m.epoch, m.step, m.loss
            ));
            for (i, bar) in lines {
                if let Some(l) = m.layers.get(*i) {
                    bar.set_message(layer_line(*i, l));
                }
            }
            if !m.time_steps.is_empty() {
                let below = lines.last().map_or(header, |(_, b)| b);
                let bar = self.times.entry(m.name.clone()).or_insert_with(|| {
                    let style = ProgressStyle::with_template("{msg}").expect("a valid template");
                    self.multi.insert_after(below, ProgressBar::new(0).with_style(style))
                });
                bar.set_message(time_line(&m.time_steps, 48));
            }
        }
    }

    fn epoch_end(&mut self, model: &str, epoch: usize, train: (f64, Option<f64>), test: Option<(f64, Option<f64>)>) {
        // A failed redraw of the terminal must not stop training; the run folder is the record.
        self.multi.println(epoch_line(model, epoch, train, test)).unwrap_or(());
    }

    fn note(&mut self, line: &str) {
        // As for the epoch lines: the run folder is the record, a failed redraw is not an error.
        self.multi.println(line).unwrap_or(());
    }

    fn finish(&mut self) {
        self.progress.finish_and_clear();
        // Leave the last per-layer picture on screen: it is the run's summary of gradient flow.
        for name in &self.order {
            if let Some((header, lines)) = self.models.get(name) {
                header.finish();
                for (_, l) in lines {
                    l.finish();
                }
                if let Some(t) = self.times.get(name) {
                    t.finish();
                }
            }
        }
    }
}

/// Plain lines for logs and pipes: at every epoch's end the epoch's numbers and the
/// model's latest per-layer gradient norms, and in between a per-layer line at most every
/// ten seconds.
pub struct Plain {
    last_shown: HashMap<String, Instant>,
    latest: HashMap<String, ModelView>,
    every: Duration,
}

impl Plain {
    /// Plain lines on stdout, at most one per model every ten seconds.
    pub fn new() -> Plain {
        Plain { last_shown: HashMap::new(), latest: HashMap::new(), every: Duration::from_secs(10) }
    }

    fn print_layers(&mut self, m: &ModelView) {
        self.last_shown.insert(m.name.clone(), Instant::now());
        let norms: Vec<String> = shown_layers(m.layers.len(), MAX_LAYERS_SHOWN)
            .into_iter()
            .map(|i| match m.layers[i].grad_norm {
                Some(g) => format!("L{}:{g:.1e}", i + 1),
                None => format!("L{}:no-gradient", i + 1),
            })
            .collect();
        println!("[{} epoch {} step {}] loss {:.4} |grad W| {}", m.name, m.epoch, m.step, m.loss, norms.join(" "));
        if !m.time_steps.is_empty() {
            let steps: Vec<String> =
                shown_layers(m.time_steps.len(), MAX_LAYERS_SHOWN).into_iter().map(|i| format!("t{}:{:.1e}", i + 1, m.time_steps[i])).collect();
            println!("[{} epoch {} step {}] |dL/dh_t| {}", m.name, m.epoch, m.step, steps.join(" "));
        }
        flush();
    }
}

impl Default for Plain {
    fn default() -> Self {
        Plain::new()
    }
}

impl View for Plain {
    fn layers(&mut self, m: &ModelView) {
        self.latest.insert(m.name.clone(), m.clone());
        if self.last_shown.get(&m.name).is_none_or(|t| t.elapsed() >= self.every) {
            self.print_layers(m);
        }
    }

    fn note(&mut self, line: &str) {
        println!("{line}");
        flush();
    }

    fn epoch_end(&mut self, model: &str, epoch: usize, train: (f64, Option<f64>), test: Option<(f64, Option<f64>)>) {
        println!("{}", epoch_line(model, epoch, train, test));
        if let Some(m) = self.latest.remove(model) {
            self.print_layers(&m);
        }
        flush();
    }
}

fn flush() {
    // A failed flush of stdout (a closed pipe) must not stop training; the run folder is the record.
    let _ = std::io::stdout().flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_log_scaled_and_zero_is_named() {
        assert_eq!(log_bar(1e-12, 14).chars().filter(|&c| c == '█').count(), 0);
        assert_eq!(log_bar(1e-5, 14).chars().filter(|&c| c == '█').count(), 7);
        assert!(log_bar(0.0, 14).starts_with("(zero)"));
    }

    #[test]
    fn time_bars_fall_with_the_error() {
        let line = time_line(&[1e-9, 1e-6, 1e-3, 1.0], 48);
        assert!(line.contains("t=1 ▁▃▆█ t=4"), "{line}");
        assert!(line.contains("1.0e-9 .. 1.0e0"), "{line}");
    }

    #[test]
    fn deep_models_show_first_and_last_layers() {
        let s = shown_layers(50, 12);
        assert_eq!(s.first(), Some(&0));
        assert_eq!(s.last(), Some(&49));
        assert!(s.len() <= 12);
    }
}
