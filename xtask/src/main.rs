//! `cargo xtask`: reports, comparisons and the tutorial's figures from run folders. Parses
//! the command line and calls the library; everything else lives in `lib.rs`'s modules.

mod mutants;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use xtask::Format;

/// Figures and pages from the run folders that `train` writes.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Turn one run folder into figures, an HTML page (index.html) and report.md.
    Report {
        /// The run folder, as `train` wrote it (runs/<stamp>-<name>).
        run_dir: PathBuf,
        /// Where to write the report (default: <run-dir>/report).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Which image files to write for each figure.
        #[arg(long, value_enum, default_value_t = Format::Svg)]
        format: Format,
    },
    /// Say what is wrong with each model of a run folder, in which layers, since when, and
    /// what to try; write it to the folder's diagnosis.json (not `train diagnose`, which fits
    /// nets at initialization against mean-field theory).
    Diagnose {
        /// The run folder (runs/<stamp>-<name>), as `train` or a program on the gradflow library wrote it.
        run_dir: PathBuf,
        /// Print the diagnosis as JSON instead of sentences.
        #[arg(long)]
        json: bool,
        /// Leave the folder as it is: do not write diagnosis.json.
        #[arg(long)]
        no_write: bool,
    },
    /// Draw the Jacobian spectra of `train diagnose --spectrum` folders side by side (one
    /// figure: e.g. Gaussian against orthogonal weights).
    Spectrum {
        /// The diagnose folders, each written with `--spectrum`.
        #[arg(required = true, num_args = 1..)]
        dirs: Vec<PathBuf>,
        /// Where to write the figure and its page.
        #[arg(long)]
        out: PathBuf,
        /// Which image files to write.
        #[arg(long, value_enum, default_value_t = Format::Svg)]
        format: Format,
    },
    /// Put two or more runs side by side: the same figures, one table of headline numbers.
    Compare {
        /// The run folders to compare (two or more).
        #[arg(required = true, num_args = 2..)]
        runs: Vec<PathBuf>,
        /// Where to write (default: compare-<a>-vs-<b> beside the first run).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Which image files to write for each figure.
        #[arg(long, value_enum, default_value_t = Format::Svg)]
        format: Format,
    },
    /// Compare training throughput with PyTorch on this machine, in alternating rounds.
    BenchCompare {
        /// Comma-separated configurations: the MLPs a, b, c, d, e, the recurrent rnn, lstm, gru, the CNN cnn.
        #[arg(long, default_value = "a,b,c,d,e")]
        config: String,
        /// Alternating rounds per configuration (project, PyTorch, project, ...).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Timed repeats inside each program's run.
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// The Python interpreter with torch installed.
        #[arg(long, default_value = "python3")]
        python: PathBuf,
        /// Threads for both the project and PyTorch.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Flush subnormal floats to zero in both (`false`: IEEE arithmetic in both).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
        flush_denormals: bool,
    },
    /// Draw the tutorial's figures (sigmoid and its derivative; gradient bars for sigmoid and ReLU).
    TutorialFigures {
        /// Where to write them (default: target/tutorial-figures in the workspace).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Which image files to write for each figure.
        #[arg(long, value_enum, default_value_t = Format::Both)]
        format: Format,
    },
    /// Mutation testing (cargo-mutants) of the crates without burn and of the telemetry's
    /// reductions, against the integration tests: caught, missed, timeout and unviable per crate.
    Mutants {
        /// Only this crate (repeatable): prng, chain, runfolder, data, gradflow.
        #[arg(long = "crate", value_name = "NAME")]
        crates: Vec<String>,
        /// Mutate the source tree itself, not a copy: only in a checkout of its own that nothing
        /// else builds while it runs.
        #[arg(long)]
        in_place: bool,
        /// Run only the integration tests that link no burn, in a workspace of the burn-free
        /// crates under target/: seconds a mutant instead of minutes, and a lower bound of the score.
        #[arg(long, conflicts_with = "in_place")]
        quick: bool,
        /// Build and test jobs at once (each a copy of the tree and its build folder).
        #[arg(long, short, default_value_t = 1)]
        jobs: usize,
        /// The folder for cargo-mutants' mutants.out (default: target/mutants, or
        /// target/mutants-quick, in the workspace).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Further arguments for cargo-mutants, after `--` (e.g. `-- --iterate`).
        #[arg(last = true)]
        extra: Vec<String>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Report { run_dir, out, format } => {
            let s = xtask::write_report(&run_dir, out.as_deref(), format).context("cannot make the report")?;
            // A diagnose folder has no models, and no headline.
            if !s.headline.is_empty() {
                println!("{}", xtask::markdown::table(&s.headline, false));
            }
            for note in &s.notes {
                println!("note: {note}");
            }
            println!("wrote {} figures, {} and {}", s.figures.len(), s.markdown.display(), s.html.display());
        }
        Command::Diagnose { run_dir, json, no_write } => {
            let s = xtask::diagnosis::run(&run_dir, !no_write).context("cannot diagnose the run")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s.diagnosis).context("cannot show the diagnosis")?);
            } else {
                for m in &s.diagnosis.models {
                    for line in diagnosis::model_lines(m) {
                        println!("{line}");
                    }
                }
            }
            if let Some(path) = &s.written {
                eprintln!("wrote {}", path.display());
            }
        }
        Command::Spectrum { dirs, out, format } => {
            let s = xtask::diagnose::spectrum::write_spectrum(&dirs, &out, format).context("cannot draw the spectra")?;
            for f in &s.figures {
                println!("{}: {}", f.title, f.reading);
            }
            println!("wrote {} and {}", s.markdown.display(), s.html.display());
        }
        Command::BenchCompare { config, rounds, repeats, python, threads, flush_denormals } => {
            let configs: Vec<String> = config.split(',').filter(|s| !s.is_empty()).map(String::from).collect();
            let table = xtask::bench::run(&xtask::bench::BenchCompare {
                configs,
                rounds,
                repeats,
                python,
                threads,
                flush_denormals,
                root: xtask::bench::workspace_root(),
            })?;
            print!("{table}");
        }
        Command::Compare { runs, out, format } => {
            let s = xtask::write_compare(&runs, out.as_deref(), format).context("cannot compare")?;
            println!("{}", xtask::markdown::table(&s.headline, true));
            for note in &s.notes {
                println!("note: {note}");
            }
            println!("wrote {} figures, {} and {}", s.figures.len(), s.markdown.display(), s.html.display());
        }
        Command::TutorialFigures { out, format } => {
            let out = out.unwrap_or_else(xtask::default_tutorial_out);
            let s = xtask::write_tutorial_figures(&out, format).context("cannot draw the tutorial figures")?;
            for f in &s.figures {
                println!("{}: {}", f.title, f.reading);
            }
            println!("wrote {} figures to {}", s.figures.len(), s.out_dir.display());
        }
        Command::Mutants { crates, in_place, quick, jobs, out, extra } => {
            let root = xtask::bench::workspace_root();
            let out = out.unwrap_or_else(|| root.join(if quick { "target/mutants-quick" } else { "target/mutants" }));
            let options = mutants::Options { crates, in_place, quick, jobs, out, extra };
            let scores = mutants::run(&root, &options).context("cannot run the mutation tests")?;
            print!("{}", mutants::table(&scores));
            if options.extra.iter().any(|a| a == "--iterate") {
                println!("note: with --iterate these are the mutants this run tested; those caught before are in previously_caught.txt");
            }
        }
    }
    Ok(())
}
