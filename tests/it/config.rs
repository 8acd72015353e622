//! Experiment configs: every shipped file validates, `--set` reaches any key, and bad input
//! is a one-line error naming the key before anything is trained.

use crate::common::root;
use train::config;

#[test]
fn every_config_in_configs_parses_and_validates_with_its_data() {
    let dir = root().join("configs");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let exp = config::load(&path, &[]).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
            // Relative data paths in configs are relative to the workspace root.
            let mut spec = exp.data.clone();
            if let Some(rest) = spec.source.strip_prefix("csv:") {
                spec.source = format!("csv:{}", root().join(rest).display());
            }
            let dataset = data::load(&spec, exp.seed).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            exp.validate_with_data(&dataset).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            // The resolved form reparses to the same experiment.
            let resolved = exp.resolved(&dataset.task);
            let again = config::parse(&resolved.to_toml(), &[]).unwrap();
            assert_eq!(again, resolved, "{}", path.display());
            n += 1;
        }
    }
    assert!(n >= 7, "expected the seven documented configs, found {n}");
}

const MINIMAL: &str = r#"
name = "t"
[data]
source = "digits"
[train]
epochs = 1
batch_size = 16
[optimizer]
kind = "sgd"
lr = 0.1
[models.sigmoid]
preset = "deep-sigmoid"
depth = 3
width = 8
"#;

fn error(text: &str, sets: &[&str]) -> String {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let e = config::parse(text, &sets).unwrap_err();
    let msg = format!("{e:#}");
    assert!(!msg.contains('\n'), "errors are one line: {msg}");
    msg
}

#[test]
fn set_overrides_any_key_and_is_validated_like_the_file() {
    let sets = ["models.sigmoid.depth=20", "train.epochs=3", "optimizer.lr=0.5", "data.source=mnist-10k", "seed=9"];
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let exp = config::parse(MINIMAL, &sets).unwrap();
    assert_eq!(exp.models.0[0].1.depth, Some(20));
    assert_eq!(exp.train.epochs, 3);
    assert_eq!(exp.optimizer.lr(), 0.5);
    assert_eq!(exp.data.source, "mnist-10k");
    assert_eq!(exp.seed, 9);
    // A new model can be added from the command line.
    let exp = config::parse(MINIMAL, &["models.r.preset=deep-relu".into(), "models.r.depth=2".into(), "models.r.width=4".into()]).unwrap();
    assert_eq!(exp.models.0.len(), 2);
    assert!(error(MINIMAL, &["models.sigmoid.dept=20"]).contains("models.sigmoid.dept"));
    assert!(error(MINIMAL, &["train.epochs=three"]).contains("train.epochs"));
    assert!(error(MINIMAL, &["train.epochs"]).contains("key=value"));
}

#[test]
fn bad_configs_name_the_key() {
    // An unknown key in the file itself.
    let text = MINIMAL.replace("epochs = 1", "epochs = 1\nbogus = 1");
    assert!(error(&text, &[]).contains("train.bogus"), "{}", error(&text, &[]));
    // Wrong values, each as a --set (validated exactly like the file).
    let cases = [
        ("models.sigmoid.depth=0", "models.sigmoid.depth"),
        ("train.batch_size=0", "train.batch_size"),
        ("optimizer.lr=-0.1", "optimizer.lr"),
        ("train.epochs=0", "train.epochs"),
        ("models.sigmoid.init=glorot", "models.sigmoid.init"),
        ("models.sigmoid.init={ kind = \"normal\" }", "models.sigmoid.init.std"),
        ("models.sigmoid.init={ kind = \"legacy\", gain = 2.0 }", "models.sigmoid.init.gain"),
        ("models.sigmoid.activation=swish", "models.sigmoid.activation"),
        ("models.sigmoid.preset=resnet", "models.sigmoid.preset"),
        ("models.sigmoid.layers=[4, 4]", "models.sigmoid.layers"),
        ("telemetry.every=0", "telemetry.every"),
        ("train.clip_grad_norm=-1.0", "train.clip_grad_norm"),
        ("data.valid_fraction=1.5", "data.valid_fraction"),
        ("optimizer.kind=rmsprop", "optimizer"),
    ];
    for (set, key) in cases {
        let msg = error(MINIMAL, &[set]);
        assert!(msg.contains(key), "`--set {set}` should name `{key}`: {msg}");
    }
}

#[test]
fn a_probe_larger_than_the_training_set_is_an_error_before_training() {
    let exp = config::parse(MINIMAL, &["telemetry.probe=100000".into()]).unwrap();
    let dataset = data::load(&exp.data, exp.seed).unwrap();
    let e = exp.validate_with_data(&dataset).unwrap_err();
    assert_eq!(e.key, "telemetry.probe");
    let e = config::parse(MINIMAL, &["train.loss=\"mse\"".into()]).unwrap();
    assert_eq!(e.validate_with_data(&dataset).unwrap_err().key, "train.loss");
}
