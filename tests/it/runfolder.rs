//! The run folder's contract (`runfolder` crate) on its own: the files a writer creates and
//! the rows it appends, as ARCHITECTURE.md documents them; numbers that read back exactly;
//! the manifest's lenient reading; the gradient histogram's bins at every edge.

use std::path::{Path, PathBuf};

use runfolder::{
    Bin, EpochRecord, HistogramRow, LayerEpochRow, LayerRow, Manifest, ModelInfo, ParamRow, RunWriter, StepRow, Status,
    WriteError,
};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("runfolder-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The header line ARCHITECTURE.md gives for `file` (the code line under its heading). The
/// root is found from the tests crate's folder, not through `common`, which links burn: this
/// module stays free of it for `cargo xtask mutants --quick`.
fn documented_header(file: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let heading = format!("### `{file}`");
    let mut lines = doc.lines().skip_while(|l| !l.starts_with(&heading));
    assert!(lines.next().is_some(), "ARCHITECTURE.md documents {file}");
    let line = lines.next().expect("a line under the heading");
    line.trim_matches('`').to_string()
}

#[test]
fn a_new_run_folder_has_every_file_with_its_documented_header() {
    let dir = scratch("headers");
    let w = RunWriter::create(&dir, Some("name = \"t\"\n")).expect("a new folder");
    assert_eq!(w.path(), dir);
    assert_eq!(read(&dir, runfolder::CONFIG), "name = \"t\"\n");
    for file in runfolder::CSV_FILES {
        assert_eq!(read(&dir, file), format!("{}\n", documented_header(file)), "{file}");
    }
    drop(w);

    // A folder that exists but is empty is taken; a library user's run has no config.
    let empty = scratch("empty");
    std::fs::create_dir_all(&empty).expect("create");
    RunWriter::create(&empty, None).expect("an empty folder is taken");
    assert!(!empty.join(runfolder::CONFIG).exists());

    // A folder with anything in it is refused, naming it, and nothing in it is touched.
    let err = RunWriter::create(&dir, None).err().expect("a used folder is refused");
    assert!(matches!(err, WriteError::NotEmpty { .. }), "{err}");
    assert!(err.to_string().contains(&dir.display().to_string()) && err.to_string().contains("not empty"), "{err}");
    assert_eq!(read(&dir, runfolder::CONFIG), "name = \"t\"\n");
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(empty);
}

#[test]
fn rows_are_written_whole_and_durable_after_each_flush() {
    let dir = scratch("rows");
    let mut w = RunWriter::create(&dir, None).expect("a new folder");
    let lines = |file: &str| read(&dir, file).lines().skip(1).map(String::from).collect::<Vec<_>>();

    // An epoch row is durable at once: the run may be killed right after it.
    w.epoch(&EpochRecord {
        model: "relu",
        epoch: 1,
        train: (0.5, Some(0.875)),
        test: Some((0.25, Some(0.9))),
        valid: None,
        seconds: 1.23456,
    })
    .expect("epoch");
    assert_eq!(lines(runfolder::EPOCHS), ["relu,1,0.5,0.875,0.25,0.9,1.235,,"]);
    // Regression: no accuracies; no test split: empty test cells.
    w.epoch(&EpochRecord { model: "mse", epoch: 0, train: (2.0, None), test: None, valid: Some((3.0, None)), seconds: 0.0 })
        .expect("epoch");
    assert_eq!(lines(runfolder::EPOCHS)[1], "mse,0,2,,,,0.000,3,");

    w.step(&StepRow { model: "relu", epoch: 1, step: 8, loss: 0.5, grad_norm: 1e-30, grad_norm_clipped: 2.5, lr: Some(0.5) }).expect("step");
    let layer = LayerRow {
        model: "relu",
        epoch: 1,
        step: 8,
        source: runfolder::SOURCE_TRAIN,
        layer: 3,
        metric: runfolder::metric::GRAD_NORM_WEIGHT,
        value: 4.5e-12,
    };
    w.layer(&layer).expect("layer");
    w.param(&ParamRow {
        model: "relu",
        epoch: 1,
        step: 8,
        source: runfolder::SOURCE_PROBE,
        layer: 3,
        param: "layers.2.weight",
        metric: runfolder::metric::GRAD_NORM,
        value: 0.125,
    })
    .expect("param");
    w.layer_epoch(&LayerEpochRow {
        model: "relu",
        epoch: 1,
        layer: 3,
        metric: runfolder::metric::WEIGHT_NORM,
        mean: 1.5,
        min: -2.0,
        max: 3e9,
        count: 7,
    })
    .expect("layer epoch");
    w.histogram(&HistogramRow {
        model: "relu",
        epoch: 1,
        step: 8,
        source: runfolder::SOURCE_TRAIN,
        layer: 3,
        bin: Bin::Decade(-9),
        count: 42,
    })
    .expect("histogram");
    w.flush().expect("flush");
    // Read while the writer is still open: flush, not closing the file, made them visible.
    assert_eq!(lines(runfolder::STEPS), ["relu,1,8,0.5,1e-30,2.5,0.5"]);
    assert_eq!(lines(runfolder::LAYERS), ["relu,1,8,train,3,grad_norm_weight,4.5e-12"]);
    assert_eq!(lines(runfolder::PARAMS), ["relu,1,8,probe,3,layers.2.weight,grad_norm,0.125"]);
    assert_eq!(lines(runfolder::LAYER_EPOCHS), ["relu,1,3,weight_norm,1.5,-2,3e9,7"]);
    assert_eq!(lines(runfolder::HISTOGRAMS), ["relu,1,8,train,3,1e-9,42"]);
    drop(w);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn numbers_read_back_exactly_in_their_shortest_form() {
    let cases = [
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (0.1, "0.1"),
        (1e-4, "0.0001"),
        (-1e-4, "-0.0001"),
        (9.99e-5, "9.99e-5"),
        (1e-30, "1e-30"),
        (9999999.5, "9999999.5"),
        (1e7, "1e7"),
        (-2.5e12, "-2.5e12"),
    ];
    for (v, want) in cases {
        assert_eq!(runfolder::num(v), want, "{v:e}");
    }
    // Any finite f64, of any magnitude, reads back as the same number.
    let mut rng = prng::Rng::new(17);
    for _ in 0..10_000 {
        let v = f64::from_bits(rng.next_u64());
        if v.is_finite() {
            assert_eq!(runfolder::num(v).parse::<f64>(), Ok(v), "{v:e}");
        }
    }
}

#[test]
fn the_manifest_is_replaced_whole_and_reads_back() {
    let dir = scratch("manifest");
    let w = RunWriter::create(&dir, None).expect("a new folder");
    let mut m = Manifest {
        name: "t".into(),
        status: Status::Diverged,
        reason: Some("step 3: loss is NaN".into()),
        seed: Some(7),
        models: vec![ModelInfo { name: "relu".into(), widths: vec![4, 3, 2], ..ModelInfo::default() }],
        ..Manifest::default()
    };
    w.write_manifest(&m).expect("write");
    m.status = Status::Completed;
    w.write_manifest(&m).expect("rewrite");
    let back: Manifest = serde_json::from_str(&read(&dir, runfolder::MANIFEST)).expect("valid JSON");
    assert_eq!(back, m);
    // The temporary file was renamed into place: none is left beside the manifest.
    let names: Vec<String> =
        std::fs::read_dir(&dir).expect("list").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");

    // A file that cannot be written is an error naming it.
    let err = runfolder::write_atomic(&dir.join("missing/manifest.json"), b"{}").expect_err("no such folder");
    assert!(err.to_string().contains("missing/manifest.tmp"), "{err}");
    drop(w);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn statuses_are_the_manifest_s_words() {
    for (status, word) in [
        (Status::Running, "running"),
        (Status::Completed, "completed"),
        (Status::Interrupted, "interrupted"),
        (Status::Diverged, "diverged"),
        (Status::Failed, "failed"),
    ] {
        assert_eq!(status.as_str(), word);
        assert_eq!(serde_json::to_value(status).expect("serializes"), word);
        let m: Manifest = serde_json::from_str(&format!(r#"{{"status": "{word}", "models": []}}"#)).expect("reads");
        assert_eq!(m.status, status);
    }
    assert_eq!(Status::Unknown.as_str(), "unknown");
    // The lenient reader: only `models` is required, and a run killed early reads as running.
    let m: Manifest = serde_json::from_str(r#"{"models": [], "from_the_future": 1}"#).expect("a bare manifest loads");
    assert_eq!((m.status, m.name.as_str(), m.seed), (Status::Running, "", None));
    assert!(serde_json::from_str::<Manifest>("{}").is_err(), "a manifest without models is not a run");
}

#[test]
fn old_manifests_with_numeric_layers_read_as_widths() {
    let old: ModelInfo = serde_json::from_str(r#"{"name": "s", "layers": [784, 64, 10]}"#).expect("an old entry");
    assert_eq!((old.widths, old.layers.len()), (vec![784, 64, 10], 0));
    // Both keys: the explicit widths win, and the layers are the named entries.
    let new: ModelInfo =
        serde_json::from_str(r#"{"name": "s", "widths": [2, 1], "layers": [{"name": "layers.0", "params": []}]}"#)
            .expect("a new entry");
    assert_eq!(new.widths, [2, 1]);
    assert_eq!(new.layers[0].name, "layers.0");
    let both: ModelInfo = serde_json::from_str(r#"{"name": "s", "widths": [5, 1], "layers": [5, 3, 1]}"#).expect("loads");
    assert_eq!((both.widths, both.layers.len()), (vec![5, 1], 0));
    // A layer entry that is neither a number nor an object is serde's error.
    assert!(serde_json::from_str::<ModelInfo>(r#"{"name": "s", "layers": [1, "x"]}"#).is_err());
}

#[test]
fn timestamps_are_utc_now() {
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs();
    let (rfc, stamp, rfc_after) = (runfolder::now_rfc3339(), runfolder::now_stamp(), runfolder::now_rfc3339());
    let after = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs();
    // YYYY-mm-ddTHH:MM:SSZ and YYYYmmdd-HHMMSS, the same instant (give or take a second).
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    assert_eq!(rfc.len(), 20, "{rfc}");
    assert_eq!((&rfc[4..5], &rfc[7..8], &rfc[10..11], &rfc[13..14], &rfc[16..17], &rfc[19..]), ("-", "-", "T", ":", ":", "Z"));
    assert_eq!((stamp.len(), &stamp[8..9]), (15, "-"), "{stamp}");
    assert!(digits(&stamp) == digits(&rfc) || digits(&stamp) == digits(&rfc_after), "{rfc} vs {stamp}");
    // Back to seconds since 1970 by counting days (independent of the writer's calendar).
    let n = |a: usize, b: usize| rfc[a..b].parse::<u64>().expect("digits");
    let (year, month, day) = (n(0, 4), n(5, 7), n(8, 10));
    let leap = |y: u64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days: u64 = (1970..year).map(|y| if leap(y) { 366 } else { 365 }).sum();
    let lengths = [31, if leap(year) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    days += lengths[..(month - 1) as usize].iter().sum::<u64>() + day - 1;
    let secs = days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19);
    assert!((before..=after).contains(&secs), "{rfc} is {secs}, not within {before}..={after}");
}

#[test]
fn every_gradient_magnitude_falls_in_its_decade() {
    let cases: [(f32, Bin); 14] = [
        (0.0, Bin::Zero),
        (-0.0, Bin::Zero),
        (f32::from_bits(1), Bin::Subnormal),
        (-1e-39, Bin::Subnormal),
        (f32::MIN_POSITIVE, Bin::Decade(-38)),
        // 1e-8 itself is 9.99999994e-9 in float32, below the edge: its decade is 1e-9.
        (1e-8, Bin::Decade(-9)),
        (-2e-8, Bin::Decade(-8)),
        (9.9e-9, Bin::Decade(-9)),
        (1.0, Bin::Decade(0)),
        (0.5, Bin::Decade(-1)),
        (999.9, Bin::Decade(2)),
        (1000.0, Bin::Large),
        (f32::INFINITY, Bin::Large),
        (f32::NAN, Bin::Large),
    ];
    for (x, want) in cases {
        assert_eq!(runfolder::bin_of(x), want, "{x:e}");
        let mut counts = [0u64; runfolder::BIN_COUNT];
        runfolder::count_bins(&[x], &mut counts);
        assert_eq!(counts[want.index()], 1, "count_bins puts {x:e} in {want:?}");
    }
    // The fast count agrees with the definition on any float32 (random bit patterns), and
    // adds to the counts it is given.
    let mut rng = prng::Rng::new(5);
    let values: Vec<f32> = (0..20_000).map(|_| f32::from_bits(rng.next_u64() as u32)).collect();
    let mut fast = [1u64; runfolder::BIN_COUNT];
    runfolder::count_bins(&values, &mut fast);
    let mut slow = [1u64; runfolder::BIN_COUNT];
    for &v in &values {
        slow[runfolder::bin_of(v).index()] += 1;
    }
    assert_eq!(fast, slow);
    // Near every decade edge, on both sides.
    for e in -40..=4 {
        let edge: f32 = format!("1e{e}").parse().expect("a power of ten");
        for x in [edge, f32::from_bits(edge.to_bits() - 1), f32::from_bits(edge.to_bits() + 1)] {
            let mut c = [0u64; runfolder::BIN_COUNT];
            runfolder::count_bins(&[x], &mut c);
            assert_eq!(c[runfolder::bin_of(x).index()], 1, "{x:e}");
        }
    }
}

#[test]
fn bins_are_named_in_order_and_parse_back() {
    let labels: Vec<String> = runfolder::bins().map(|b| b.label()).collect();
    assert_eq!(labels.len(), runfolder::BIN_COUNT);
    assert_eq!(labels[..3], ["zero", "subnormal", "1e-38"]);
    assert_eq!(labels[runfolder::BIN_COUNT - 2..], ["1e2", "1e3+"]);
    for (i, b) in runfolder::bins().enumerate() {
        assert_eq!(b.index(), i);
        assert_eq!(Bin::parse(&b.label()), Some(b));
    }
    for bad in ["1e3", "1e-39", "1e", "1ex", "2e5", "", "Zero"] {
        assert_eq!(Bin::parse(bad), None, "{bad:?}");
    }
    // The share of entries below 1e-8: zeros, subnormals and the decades under it.
    assert!(Bin::Zero.is_below(-8) && Bin::Subnormal.is_below(-8) && Bin::Decade(-9).is_below(-8));
    assert!(!Bin::Decade(-8).is_below(-8) && !Bin::Large.is_below(3));
    // Subnormals reach up to 1.18e-38, which is not below 1e-38.
    assert!(!Bin::Subnormal.is_below(-38) && Bin::Subnormal.is_below(-37));
}

#[test]
fn the_git_revision_is_the_checkout_s_commit_or_none() {
    // Tests run in the tests crate's folder: inside a git checkout (a `.git` above it), the
    // revision is a full commit hash; elsewhere (a copy of the sources) there is none.
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let in_checkout = here.ancestors().any(|d| d.join(".git").exists());
    match runfolder::git_revision() {
        Some(rev) => {
            assert!(in_checkout, "a revision {rev:?} outside a checkout");
            assert!(rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit()), "{rev:?}");
        }
        None => assert!(!in_checkout, "no revision inside a checkout"),
    }
}

#[test]
fn a_run_s_writer_is_alive_only_as_the_same_process_of_the_same_boot() {
    let Some(me) = runfolder::ProcessInfo::current() else {
        // Only a system without /proc has nothing to record.
        assert!(!Path::new("/proc/self/stat").exists(), "this process can be named here");
        return;
    };
    assert_eq!(me.pid, std::process::id());
    // The kernel's own names for this boot and host, and a start after the boot's first tick
    // (field 21 of the stat file, next to it, is 0 for every process).
    let system = |path: &str| std::fs::read_to_string(path).ok().map(|s| s.trim().to_string());
    assert_eq!(me.boot_id, system("/proc/sys/kernel/random/boot_id"));
    assert_eq!(me.host, system("/proc/sys/kernel/hostname"));
    assert!(me.start_ticks.is_some_and(|t| t > 0), "{me:?}");
    assert_eq!(me.liveness(), runfolder::Liveness::Alive);
    // The same id and boot, but a process that started at another tick: the id was reused.
    let reused = runfolder::ProcessInfo { start_ticks: me.start_ticks.map(|t| t + 1), ..me.clone() };
    assert!(matches!(reused.liveness(), runfolder::Liveness::Gone(ref why) if why.contains("is gone")), "{:?}", reused.liveness());
}
