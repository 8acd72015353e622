//! Fuzz tests of the parsers that read what a user brings: IDX and CSV datasets, the
//! experiment TOML with its `--set` overrides, and xtask's run-folder reader (with the
//! figures drawn from what it read). Each valid input is mutated (truncated, bytes flipped,
//! tokens inserted, lines dropped or repeated, and per format: huge dimensions and a wrong
//! magic in an IDX header, gzip wrapping, a byte-order mark, CRLF, quotes, NaN and inf cells,
//! bytes that are not UTF-8), and every case must end in an error value that names its input
//! or in a valid result: never a panic, a hang, or an allocation that a header's claimed size
//! drove.
//!
//! The cases are drawn from the project's own seeded generator (`prng`), whose numbers do not
//! change between versions, so that a seed and a case number name the same input on every
//! machine; the counts keep the whole file to about a second once built. A proptest or
//! arbitrary driver was weighed: proptest switches on features of crates burn shares
//! (regex-syntax's `default`), and would rebuild burn for the test binary; arbitrary's byte
//! decoding changes between its versions, and with it what a seed means. A case that fails
//! is written to a folder the message names; the cases that once failed are kept in
//! `tests/fuzz-corpus/` and run first, as regression tests (its README says what each was).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read as _, Write as _};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use prng::Rng;

use crate::common::root;

// ---------------------------------------------------------------------------------------
// The allocations of a case

/// The system allocator, noting the largest single request of each thread while a case
/// runs on it. A request beyond [`HARD_CAP`] during a case is refused (the process then
/// stops with Rust's allocation error) after saying which case asked: it would otherwise be
/// made, and could take the machine's memory with it.
struct Tracking;

/// No parser may ask for more than this in one allocation while a case runs.
const HARD_CAP: usize = 256 << 20;

thread_local! {
    /// The largest request of the case running on this thread (`None`: no case runs).
    static LARGEST: Cell<Option<usize>> = const { Cell::new(None) };
    /// The number of that case, for the message of a refused request.
    static CASE: Cell<u64> = const { Cell::new(0) };
}

fn note(size: usize) -> bool {
    LARGEST
        .try_with(|largest| match largest.get() {
            Some(_) if size > HARD_CAP => {
                // The message below allocates nothing, and tracking is off while it prints.
                largest.set(None);
                let case = CASE.try_with(Cell::get).unwrap_or(0);
                let _ = writeln!(std::io::stderr(), "fuzz case {case}: refused an allocation of {size} bytes");
                false
            }
            Some(m) if size > m => {
                largest.set(Some(size));
                true
            }
            _ => true,
        })
        .unwrap_or(true)
}

// SAFETY: every call is passed on to `System` unchanged, or refused with a null pointer as
// `GlobalAlloc` allows.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if note(layout.size()) { unsafe { System.alloc(layout) } } else { std::ptr::null_mut() }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if note(layout.size()) { unsafe { System.alloc_zeroed(layout) } } else { std::ptr::null_mut() }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if note(new_size) { unsafe { System.realloc(ptr, layout, new_size) } } else { std::ptr::null_mut() }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

// ---------------------------------------------------------------------------------------
// Running cases

/// A case slower than this counts as a hang.
const SLOW: Duration = Duration::from_secs(2);

/// The cases of one target: how many ran, and what failed.
struct Campaign {
    target: &'static str,
    tried: usize,
    failures: Vec<String>,
}

impl Campaign {
    fn new(target: &'static str) -> Campaign {
        Campaign { target, tried: 0, failures: Vec::new() }
    }

    /// Runs one case: `check` returns a description of what is wrong with the outcome, if
    /// anything; a panic, a slow case, or an allocation above `budget` bytes fails it too.
    /// A failing input is written to a scratch folder, named in the failure.
    fn case(&mut self, label: &str, input: &[u8], budget: usize, check: impl FnOnce() -> Option<String>) {
        self.tried += 1;
        let _ = CASE.try_with(|c| c.set(self.tried as u64));
        let _ = LARGEST.try_with(|l| l.set(Some(0)));
        let start = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(check));
        let elapsed = start.elapsed();
        let largest = LARGEST.try_with(|l| l.replace(None)).ok().flatten().unwrap_or(0);
        let problem = match outcome {
            Err(panic) => Some(format!("panicked: {}", panic_message(&panic))),
            Ok(Some(problem)) => Some(problem),
            Ok(None) if elapsed > SLOW => Some(format!("took {elapsed:?}")),
            Ok(None) if largest > budget => Some(format!("allocated {largest} bytes at once (budget {budget})")),
            Ok(None) => None,
        };
        if let Some(problem) = problem {
            let kept = keep_failure(self.target, self.tried, input);
            self.failures.push(format!("{} case {} ({label}): {problem}; input in {}", self.target, self.tried, kept.display()));
        }
    }

    /// Fails the test with every failure, or reports the count.
    fn finish(self) {
        println!("fuzz {}: {} cases tried, {} failed", self.target, self.tried, self.failures.len());
        assert!(self.failures.is_empty(), "{} of {} cases failed:\n{}", self.failures.len(), self.tried, self.failures.join("\n"));
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default()
}

/// Writes a failing input where the failure message says, to be looked at and kept in the
/// corpus once fixed.
fn keep_failure(target: &str, case: usize, input: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join("gradflow-fuzz-failures").join(target);
    let path = dir.join(format!("case-{case}"));
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, input)) {
        eprintln!("cannot keep the failing input in {}: {e}", path.display());
    }
    path
}

/// The corpus of cases that once failed, for one target: (file name, bytes), sorted. A
/// target none of whose cases has failed yet has no folder.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = root().join("tests/fuzz-corpus").join(target);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => panic!("{}: {e}", dir.display()),
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .map(|entry| {
            let path = entry.expect("a corpus entry").path();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.file_name().expect("a file name").to_string_lossy().into_owned(), bytes)
        })
        .collect();
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------
// Mutations

/// Bytes that break formats in interesting ways, inserted at random places.
const TOKENS: [&[u8]; 26] = [
    b"\"", b",", b";", b"\n", b"\r\n", b"\r", b"\xEF\xBB\xBF", b"NaN", b"inf", b"-inf", b"1e39", b"-1", b"0",
    b"18446744073709551616", b"1e400", b"\xff\xfe", b"\"\"", b" ", b"=", b"[", b"]", b"{", b"}", b".", b"\x00", b"nan",
];

/// The number of cases of a target: `n`, times `FUZZ_SCALE` when it is set (a longer search
/// by hand: `FUZZ_SCALE=100 cargo test --workspace fuzz`).
fn cases(n: usize) -> usize {
    match std::env::var("FUZZ_SCALE") {
        Ok(v) => n * v.parse::<usize>().unwrap_or_else(|_| panic!("FUZZ_SCALE={v:?} is not a whole number")),
        Err(_) => n,
    }
}

/// The generator of a target: its own seed, or another one for every `FUZZ_SEED`.
fn generator(seed: u64) -> Rng {
    match std::env::var("FUZZ_SEED") {
        Ok(v) => Rng::derive(seed, &[v.parse::<u64>().unwrap_or_else(|_| panic!("FUZZ_SEED={v:?} is not a whole number"))]),
        Err(_) => Rng::new(seed),
    }
}

fn below(rng: &mut Rng, n: usize) -> usize {
    if n == 0 { 0 } else { (rng.next_u64() % n as u64) as usize }
}

/// One to four byte-level mutations of `input`.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + below(rng, 4) {
        let at = below(rng, v.len() + 1);
        match below(rng, 7) {
            0 => v.truncate(at),
            1 => {
                for _ in 0..1 + below(rng, 8) {
                    if !v.is_empty() {
                        let i = below(rng, v.len());
                        v[i] = rng.next_u64() as u8;
                    }
                }
            }
            2 | 3 => {
                let token = TOKENS[below(rng, TOKENS.len())];
                v.splice(at..at, token.iter().copied());
            }
            4 => {
                let end = (at + below(rng, 64)).min(v.len());
                v.drain(at..end);
            }
            5 => {
                let end = (at + below(rng, 64)).min(v.len());
                let chunk = v[at..end].to_vec();
                for _ in 0..1 + below(rng, 3) {
                    v.splice(at..at, chunk.iter().copied());
                }
            }
            _ => {
                // A line dropped or repeated.
                let lines: Vec<&[u8]> = v.split_inclusive(|&b| b == b'\n').collect();
                if !lines.is_empty() {
                    let i = below(rng, lines.len());
                    let mut out: Vec<u8> = Vec::with_capacity(v.len());
                    for (j, line) in lines.iter().enumerate() {
                        if j != i || rng.next_u64() % 2 == 0 {
                            out.extend_from_slice(line);
                        }
                        if j == i {
                            out.extend_from_slice(line);
                        }
                    }
                    v = out;
                }
            }
        }
    }
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(bytes).expect("compress in memory");
    z.finish().expect("compress in memory")
}

/// The budget of a case: a parser may hold its input a few times over, and decompress it
/// (deflate expands by at most about 1032 times).
fn budget(input: &[u8], gzipped: bool) -> usize {
    (1 << 20) + input.len() * if gzipped { 2100 } else { 64 }
}

/// A scratch folder of this process for one target, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(target: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("gradflow-fuzz-{target}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Scratch(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Loads `source` as a dataset (seeded splits and scaling included) and checks it: a
/// dataset whose parts agree, or an error on one line that names `names` (the file or
/// folder, or a `data.` key).
fn check_load(source: &str, names: &str) -> Option<String> {
    let spec = data::DataSpec { source: source.to_string(), ..data::DataSpec::default() };
    match data::load(&spec, 7) {
        Ok(ds) => {
            let classes = ds.classes();
            for (name, split) in [("train", &ds.train), ("valid", &ds.valid), ("test", &ds.test)] {
                if split.x.len() != split.len * ds.features || split.x.iter().any(|v| !v.is_finite()) {
                    return Some(format!("the {name} split has {} values for {} examples of {} features, or one is not finite", split.x.len(), split.len, ds.features));
                }
                if let (Some(labels), Some(k)) = (split.labels(), classes) {
                    if labels.len() != split.len || labels.iter().any(|&l| l as usize >= k) {
                        return Some(format!("the {name} split's labels are not {} classes of its {} examples", k, split.len));
                    }
                }
            }
            if ds.train.len == 0 || ds.feature_names.len() != ds.features || classes.is_some_and(|k| ds.class_names.len() != k) {
                return Some(format!("{} training examples, {} feature names for {} features", ds.train.len, ds.feature_names.len(), ds.features));
            }
            None
        }
        Err(e) => {
            let msg = e.to_string();
            (!(msg.contains(names) || msg.starts_with("data.")) || msg.contains('\n'))
                .then(|| format!("the error is not one line naming {names}: {msg:?}"))
        }
    }
}

// ---------------------------------------------------------------------------------------
// IDX

fn idx(magic: u32, dims: &[u32], rng: &mut Rng) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    let len: u32 = dims.iter().product();
    out.extend((0..len).map(|_| rng.next_u64() as u8));
    out
}

/// Checks one IDX input: images or labels, by `images`.
fn check_idx(bytes: &[u8], name: &str, images: bool) -> Option<String> {
    if images {
        match data::idx::parse_images(bytes, name) {
            Ok(i) if i.pixels.len() != i.count * i.rows * i.cols => {
                Some(format!("{} pixels for {} images of {}x{}", i.pixels.len(), i.count, i.rows, i.cols))
            }
            Ok(_) => None,
            Err(e) => (!e.to_string().starts_with(name)).then(|| format!("the error does not name the file: {e}")),
        }
    } else {
        match data::idx::parse_labels(bytes, name) {
            Ok(_) => None,
            Err(e) => (!e.to_string().starts_with(name)).then(|| format!("the error does not name the file: {e}")),
        }
    }
}

#[test]
fn idx_files_end_in_an_error_or_a_dataset() {
    let mut c = Campaign::new("idx");
    for (name, bytes) in corpus("idx") {
        let images = name.contains("images");
        let gz = name.ends_with(".gz");
        c.case(&name, &bytes, budget(&bytes, gz), || check_idx(&bytes, &name, images));
    }
    let scratch = Scratch::new("idx");
    let mut rng = generator(0x1d8);
    for i in 0..cases(3000) {
        let images = i % 2 == 0;
        let valid = if images {
            idx(data::idx::IMAGES_MAGIC, &[1 + below(&mut rng, 4) as u32, 1 + below(&mut rng, 5) as u32, 1 + below(&mut rng, 5) as u32], &mut rng)
        } else {
            idx(data::idx::LABELS_MAGIC, &[below(&mut rng, 20) as u32], &mut rng)
        };
        let mut bytes = mutate(&mut rng, &valid);
        let mut label = "bytes";
        match below(&mut rng, 6) {
            0 => {
                // A huge dimension, with the data it claims absent.
                let dims = if images { 3 } else { 1 };
                let d = 4 + 4 * below(&mut rng, dims);
                let huge = [u32::MAX, 1 << 31, 1 << 24, 65_536 + below(&mut rng, 1 << 20) as u32][below(&mut rng, 4)];
                if bytes.len() >= d + 4 {
                    bytes[d..d + 4].copy_from_slice(&huge.to_be_bytes());
                }
                label = "huge dimension";
            }
            1 => {
                let magic = [0x0000_0803u32, 0x0000_0801, 0x0000_0c03, 0x0803_0000, rng.next_u64() as u32][below(&mut rng, 5)];
                if bytes.len() >= 4 {
                    bytes[..4].copy_from_slice(&magic.to_be_bytes());
                }
                label = "magic";
            }
            2 => {
                bytes = gzip(&bytes);
                label = "gzip";
            }
            3 => {
                bytes = mutate(&mut rng, &gzip(&valid));
                label = "corrupt gzip";
            }
            _ => {}
        }
        let gz = label.contains("gzip");
        let name = format!("fuzz-{}{}", if images { "images" } else { "labels" }, if gz && i % 3 == 0 { ".gz" } else { "" });
        c.case(label, &bytes, budget(&bytes, gz), || check_idx(&bytes, &name, images));
        // Every tenth case, the input is one file of a dataset folder, loaded whole: images
        // and labels checked against each other, the classes, the scaling.
        if i % 10 == 0 {
            let n = 2 + below(&mut rng, 5) as u32;
            let (rows, cols) = (1 + below(&mut rng, 3) as u32, 1 + below(&mut rng, 3) as u32);
            let labels = |rng: &mut Rng| {
                let mut l = idx(data::idx::LABELS_MAGIC, &[n], rng);
                l[8..].iter_mut().for_each(|b| *b %= 3);
                l
            };
            let files = [
                ("train-images-idx3-ubyte", idx(data::idx::IMAGES_MAGIC, &[n, rows, cols], &mut rng)),
                ("train-labels-idx1-ubyte", labels(&mut rng)),
                ("t10k-images-idx3-ubyte", idx(data::idx::IMAGES_MAGIC, &[n, rows, cols], &mut rng)),
                ("t10k-labels-idx1-ubyte", labels(&mut rng)),
            ];
            let bad = below(&mut rng, files.len());
            for (k, (file, content)) in files.iter().enumerate() {
                scratch.write(file, if k == bad { &bytes } else { content });
            }
            let source = format!("idx:{}", scratch.0.display());
            c.case("dataset folder", &bytes, budget(&bytes, gz) * 4, || check_load(&source, &scratch.0.display().to_string()));
        }
    }
    c.finish();
}

// ---------------------------------------------------------------------------------------
// CSV

/// Checks one CSV input: a table whose parts agree, or an error naming the file.
fn check_csv(bytes: &[u8], name: &str, label: Option<&str>) -> Option<String> {
    match data::csv::parse_table(bytes, name, label) {
        Ok(t) => {
            let features = t.feature_names.len();
            let classes = t.class_names.len() as u32;
            if t.x.len() != t.rows * features || t.labels.len() != t.rows || features == 0 {
                Some(format!("{} values and {} labels for {} rows of {features} features", t.x.len(), t.labels.len(), t.rows))
            } else if t.x.iter().any(|v| !v.is_finite()) {
                Some("a feature is not finite".to_string())
            } else if t.labels.iter().any(|&l| l >= classes) {
                Some("a label is not one of the classes".to_string())
            } else {
                None
            }
        }
        Err(e) => {
            let msg = e.to_string();
            if !msg.starts_with(name) || msg.contains('\n') {
                return Some(format!("the error is not one line naming the file: {msg:?}"));
            }
            wrong_line(bytes, &e)
        }
    }
}

/// Whether an error names a line of the file that is not the one at fault: the line must
/// exist and not be blank, and hold the cell it quotes. Lines end at `\n`, `\r\n` or a lone
/// `\r`, as for the reader.
fn wrong_line(bytes: &[u8], e: &data::DataError) -> Option<String> {
    use data::DataError as E;
    let (line, value) = match e {
        E::NotNumeric { line, value, .. } => (*line, Some(value.as_str())),
        E::EmptyLabel { line, .. } | E::Ragged { line, .. } | E::UnterminatedQuote { line, .. } | E::Csv { line, .. } => (*line, None),
        _ => return None,
    };
    let text = match flate2::read::MultiGzDecoder::new(bytes).bytes().collect::<Result<Vec<u8>, _>>() {
        Ok(plain) if bytes.starts_with(&[0x1f, 0x8b]) => String::from_utf8_lossy(&plain).into_owned(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    };
    let lines: Vec<&str> = text.split("\r\n").flat_map(|l| l.split(['\n', '\r'])).collect();
    match lines.get(line.wrapping_sub(1)) {
        None => Some(format!("names line {line} of a file of {} lines", lines.len())),
        Some(l) if l.trim().is_empty() => Some(format!("names line {line}, which is blank")),
        Some(l) => value
            // A quoted cell's text is not its line's (quotes removed, `""` unescaped).
            .filter(|v| !v.is_empty() && !l.contains('"') && !l.contains(*v))
            .map(|v| format!("names line {line} for the cell {v:?}, which is not on it: {l:?}")),
    }
}

#[test]
fn csv_tables_end_in_an_error_or_a_dataset() {
    let mut c = Campaign::new("csv");
    for (name, bytes) in corpus("csv") {
        c.case(&name, &bytes, budget(&bytes, name.ends_with(".gz")), || check_csv(&bytes, &name, None));
    }
    let iris = std::fs::read(root().join("data/tabular/iris.csv")).expect("iris.csv");
    let iris: Vec<u8> = iris.split_inclusive(|&b| b == b'\n').take(12).flatten().copied().collect();
    let seeds: [&[u8]; 5] = [
        &iris,
        b"\"w\";\"h\";\"kind\"\r\n1,5;2;\"a \"\"b\"\"\"\r\n3;4;c\r\n",
        b"5.1,3.5,setosa\n4.9,3.0,setosa\n6.0,2.2,virginica\n",
        b"\xEF\xBB\xBFx,y,label\n1,2,0\n\n3,4,1\n",
        b"a,b,c,label\n1e3,-2,0.5,-0\n1,2,3,1.0\n",
    ];
    let scratch = Scratch::new("csv");
    let mut rng = generator(0xc5f);
    for i in 0..cases(2000) {
        let valid = seeds[i % seeds.len()];
        let mut bytes = mutate(&mut rng, valid);
        let mut label = "bytes";
        match below(&mut rng, 8) {
            0 => {
                bytes = String::from_utf8_lossy(&bytes).replace('\n', "\r\n").into_bytes();
                label = "crlf";
            }
            1 => {
                let cells = ["NaN", "inf", "-inf", "1e39", "\"\"", "\"1,5\"", "\"open", "", "\u{FEFF}1"];
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let cell = cells[below(&mut rng, cells.len())];
                // After a separator (an ASCII byte, so the next index is a char boundary).
                let after: Vec<usize> = text.match_indices([',', ';']).map(|(i, _)| i + 1).collect();
                let at = after.get(below(&mut rng, after.len().max(1))).copied().unwrap_or(0);
                bytes = format!("{}{cell}{}", &text[..at], &text[at..]).into_bytes();
                label = "cell";
            }
            2 => {
                bytes = gzip(&bytes);
                label = "gzip";
            }
            3 => {
                bytes.splice(0..0, b"\xEF\xBB\xBF".iter().copied());
                label = "bom";
            }
            _ => {}
        }
        let gz = label == "gzip";
        let name = if gz && i % 2 == 0 { "fuzz.csv.gz" } else { "fuzz.csv" };
        let column = ["label", "0", "kind", "99", "x"][below(&mut rng, 5)];
        let by = (i % 3 == 0).then_some(column);
        c.case(label, &bytes, budget(&bytes, gz), || check_csv(&bytes, name, by));
        // Every fifth case, the file as a dataset: split, standardized.
        if i % 5 == 0 {
            let path = scratch.write(name, &bytes);
            c.case("dataset", &bytes, budget(&bytes, gz), || check_load(&format!("csv:{}", path.display()), &path.display().to_string()));
        }
    }
    c.finish();
}

// ---------------------------------------------------------------------------------------
// The experiment TOML and `--set`

/// The `--set` lines at the top of a corpus entry, each a JSON string (`#! --set "key=value"`),
/// so that an override holding a line break stays on its line.
fn sets_of(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("#! --set "))
        .map(|s| serde_json::from_str(s).unwrap_or_else(|e| panic!("a corpus `--set` is not a JSON string: {s}: {e}")))
        .collect()
}

/// A small dataset for the memory estimate of configs that parse.
fn estimate_dataset() -> data::Dataset {
    let spec: data::DataSpec = toml::from_str("source = \"spiral\"").expect("a spiral spec");
    data::load(&spec, 1).expect("spirals")
}

/// Checks one experiment: an error on one line, or an experiment that validates, saves and
/// reads back as itself, and whose memory can be estimated.
fn check_config(text: &str, sets: &[String], dataset: &data::Dataset) -> Option<String> {
    match train::config::parse(text, sets) {
        Ok(exp) => {
            if let Err(e) = exp.validate() {
                return Some(format!("parsed, but does not validate: {e}"));
            }
            let saved = exp.to_toml();
            match train::config::parse(&saved, &[]) {
                Ok(again) if again == exp => {}
                Ok(_) => return Some(format!("saved as {saved:?}, which reads back as another experiment")),
                Err(e) => return Some(format!("saved as {saved:?}, which does not read back: {e:#}")),
            }
            let total = train::memory::estimate(&exp, dataset).total();
            (!(total.is_finite() && total >= 0.0)).then(|| format!("a memory estimate of {total}"))
        }
        Err(e) => {
            let msg = format!("{e:#}");
            msg.contains('\n').then(|| format!("the error is not one line: {msg:?}"))
        }
    }
}

#[test]
fn experiment_configs_and_overrides_end_in_an_error_or_an_experiment() {
    let dataset = estimate_dataset();
    let mut c = Campaign::new("toml");
    for (name, bytes) in corpus("toml") {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        c.case(&name, &bytes, budget(&bytes, false), || check_config(&text, &sets_of(&text), &dataset));
    }
    let mut configs: Vec<PathBuf> = std::fs::read_dir(root().join("configs"))
        .expect("configs/")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    configs.sort();
    let texts: Vec<String> = configs.iter().map(|p| std::fs::read_to_string(p).expect("a config")).collect();
    let keys = [
        "name", "seed", "data.source", "data.limit", "data.test_fraction", "data.valid_fraction", "data.label", "train.epochs",
        "train.batch_size", "train.loss", "train.clip_grad_norm", "train.flush_denormals", "train.memory_limit_gb", "optimizer.kind",
        "optimizer.lr", "optimizer.momentum", "optimizer.beta1", "telemetry.every", "telemetry.probe", "telemetry.early",
        "models.sigmoid.depth", "models.sigmoid.width", "models.sigmoid.layers", "models.sigmoid.init", "models.sigmoid.bias_init",
        "models.relu.activation", "models.relu.preset", "models.new.depth", "models", "models.sigmoid", "a..b", "",
    ];
    let values = [
        "1", "0", "-1", "1e400", "nan", "inf", "18446744073709551616", "100000000", "[1, 0, 3]", "[]", "\"x\"", "true", "{}",
        "{ kind = \"normal\", std = 0.1 }", "adam", "sgd", "relu", "he-normal", "mse", "csv:nowhere.csv", "idx:", "0.5", "",
        "[[1]]", "10001",
    ];
    let mut rng = generator(0x70e);
    for i in 0..cases(600) {
        let base = &texts[i % texts.len()];
        let text = if i % 4 == 0 { base.clone() } else { String::from_utf8_lossy(&mutate(&mut rng, base.as_bytes())).into_owned() };
        let sets: Vec<String> = (0..below(&mut rng, 4))
            .map(|_| match below(&mut rng, 8) {
                0 => String::from_utf8_lossy(&mutate(&mut rng, b"train.epochs=3")).into_owned(),
                _ => format!("{}={}", keys[below(&mut rng, keys.len())], values[below(&mut rng, values.len())]),
            })
            .collect();
        let input = format!("{}{text}", sets.iter().map(|s| format!("#! --set {}\n", serde_json::Value::from(s.as_str()))).collect::<String>());
        c.case("config", input.as_bytes(), budget(input.as_bytes(), false), || check_config(&text, &sets, &dataset));
    }
    c.finish();
}

// ---------------------------------------------------------------------------------------
// The run folder

/// The files of a small valid run folder: one model of three layers over two epochs.
fn run_files() -> Vec<(&'static str, String)> {
    let manifest = serde_json::json!({
        "name": "fuzz", "status": "completed", "seed": 1, "task": "classification",
        "models": [{ "name": "m", "activation": "sigmoid", "widths": [4, 3, 3, 2], "layers": [
            { "name": "layers.0", "activation": "sigmoid", "params": [{ "path": "layers.0.weight", "shape": [4, 3] }, { "path": "layers.0.bias", "shape": [3] }] },
            { "name": "layers.1", "activation": "sigmoid", "params": [{ "path": "layers.1.weight", "shape": [3, 3] }] },
            { "name": "layers.2", "params": [{ "path": "layers.2.weight", "shape": [3, 2] }] }
        ] }],
        "telemetry": { "enabled": true, "every": 2, "early_steps": [1], "probe": 4 }
    });
    let header = |cols: &[&str]| runfolder::header(cols);
    let mut epochs = format!("{}\n", header(&runfolder::EPOCHS_COLUMNS));
    let mut steps = format!("{}\n", header(&runfolder::STEPS_COLUMNS));
    let mut layers = format!("{}\n", header(&runfolder::LAYERS_COLUMNS));
    let mut layer_epochs = format!("{}\n", header(&runfolder::LAYER_EPOCHS_COLUMNS));
    let mut params = format!("{}\n", header(&runfolder::PARAMS_COLUMNS));
    let mut hist = format!("{}\n", header(&runfolder::HISTOGRAMS_COLUMNS));
    let metrics = [runfolder::metric::GRAD_NORM_WEIGHT, runfolder::metric::DELTA_NORM, runfolder::metric::SATURATION, runfolder::metric::UPDATE_RATIO];
    for epoch in 0..3u32 {
        let step = epoch * 2;
        let row: Vec<String> = runfolder::EPOCHS_COLUMNS
            .iter()
            .map(|c| match *c {
                "model" => "m".to_string(),
                "epoch" => epoch.to_string(),
                "valid_loss" | "valid_accuracy" => String::new(),
                _ => format!("0.{}", 5 + epoch),
            })
            .collect();
        epochs.push_str(&format!("{}\n", row.join(",")));
        if epoch > 0 {
            for s in step - 1..=step {
                steps.push_str(&format!("m,{epoch},{s},0.{s},1e-{s},1e-{s},\n"));
            }
        }
        for layer in 1..=3 {
            for (k, metric) in metrics.iter().enumerate() {
                let value = format!("{}e-{}", layer + k as u32, epoch + layer);
                layers.push_str(&format!("m,{epoch},{step},probe,{layer},{metric},{value}\n"));
                if epoch > 0 {
                    layers.push_str(&format!("m,{epoch},{step},train,{layer},{metric},{value}\n"));
                    layer_epochs.push_str(&format!("m,{epoch},{layer},{metric},{value},{value},{value},2\n"));
                }
            }
            params.push_str(&format!("m,{epoch},{step},probe,{layer},layers.{}.weight,{},1e-{layer}\n", layer - 1, runfolder::metric::GRAD_NORM));
            for (bin, count) in [("zero", 1), ("1e-9", 3), ("1e-2", 8)] {
                hist.push_str(&format!("m,{epoch},{step},probe,{layer},{bin},{count}\n"));
            }
        }
    }
    vec![
        (runfolder::MANIFEST, serde_json::to_string_pretty(&manifest).expect("json")),
        (runfolder::CONFIG, "name = \"fuzz\"\n".to_string()),
        (runfolder::EPOCHS, epochs),
        (runfolder::STEPS, steps),
        (runfolder::LAYERS, layers),
        (runfolder::LAYER_EPOCHS, layer_epochs),
        (runfolder::PARAMS, params),
        (runfolder::HISTOGRAMS, hist),
    ]
}

/// Writes `files` into `dir`, with `file` replaced by `bytes`.
fn write_run(dir: &Path, files: &[(&str, String)], file: &str, bytes: &[u8]) {
    for (name, text) in files {
        let content = if *name == file { bytes } else { text.as_bytes() };
        std::fs::write(dir.join(name), content).unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()));
    }
}

/// Checks one run folder: it loads and its figures are drawn, or the error names a file of it.
fn check_run(dir: &Path) -> Option<String> {
    match xtask::Run::load(dir) {
        Ok(run) => {
            let subjects = xtask::subject::Subject::of_run(&run, None);
            for made in xtask::figures::all(&subjects, None) {
                let svg = xtask::svg::to_svg(&xtask::plot::render(&made.figure).scene);
                if !svg.contains("<svg") {
                    return Some(format!("figure {} drew nothing", made.figure.slug));
                }
            }
            let _ = subjects.iter().map(xtask::headline::Headline::of).count();
            None
        }
        Err(e) => {
            let msg = e.to_string();
            (!msg.contains(&dir.display().to_string()) || msg.contains('\n')).then(|| format!("the error is not one line naming the file: {msg:?}"))
        }
    }
}

#[test]
fn run_folders_end_in_an_error_or_a_report() {
    let dir = std::env::temp_dir().join(format!("gradflow-fuzz-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let files = run_files();
    let mut c = Campaign::new("run");
    // A corpus entry `<file>--<what>` replaces that file of the valid run folder.
    for (name, bytes) in corpus("run") {
        let file = name.split("--").next().unwrap_or_default().to_string();
        assert!(files.iter().any(|(f, _)| *f == file), "corpus entry {name} names no file of a run folder");
        write_run(&dir, &files, &file, &bytes);
        c.case(&name, &bytes, budget(&bytes, false) + (8 << 20), || check_run(&dir));
    }
    write_run(&dir, &files, "", b"");
    c.case("valid", b"", 8 << 20, || check_run(&dir).or_else(|| xtask::Run::load(&dir).err().map(|e| format!("the valid run does not load: {e}"))));
    let mut rng = generator(0x2f0);
    for _ in 0..cases(150) {
        let (file, text) = &files[below(&mut rng, files.len())];
        let bytes = mutate(&mut rng, text.as_bytes());
        let path = dir.join(file);
        std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        c.case(file, &bytes, budget(&bytes, false) + (8 << 20), || check_run(&dir));
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    let _ = std::fs::remove_dir_all(&dir);
    c.finish();
}
