//! How fast datasets load: the embedded `mnist-10k`, and IDX files of 10,000 to 60,000
//! images to show that parsing scales linearly.
//!
//! Run with `cargo run --release -p data --example load_speed`. It prints timings and checks
//! nothing; the tests check correctness.

use std::io::Write;
use std::time::{Duration, Instant};

use data::DataSpec;

/// The fastest of `runs` timings of `f`, which is the least disturbed by other work.
fn fastest<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spec = DataSpec::default();
    let took = fastest(5, || data::load(&spec, 42));
    let ds = data::load(&spec, 42)?;
    println!(
        "load mnist-10k ({} train + {} test images): {:.1} ms",
        ds.train.len,
        ds.test.len,
        took.as_secs_f64() * 1e3
    );

    // Real MNIST images, repeated, so that the files compress like the real thing.
    let mnist = data::idx::parse_images(data::embedded::MNIST_10K_FILES[0].bytes, "mnist")?;
    let dir = std::env::temp_dir().join(format!("data-load-speed-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    println!("{:>8} {:>10} {:>12}", "images", "ms", "ns/image");
    for count in [10_000usize, 20_000, 40_000, 60_000] {
        let mut bytes = Vec::with_capacity(16 + count * 784);
        for v in [0x0803, count as u32, 28, 28] {
            bytes.extend_from_slice(&u32::to_be_bytes(v));
        }
        for i in 0..count {
            let image = i % mnist.count;
            bytes.extend_from_slice(&mnist.pixels[image * 784..(image + 1) * 784]);
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&bytes)?;
        let path = dir.join(format!("train-{count}-images-idx3-ubyte.gz"));
        std::fs::write(&path, gz.finish()?)?;
        let took = fastest(5, || data::idx::read_images(&path));
        let ms = took.as_secs_f64() * 1e3;
        println!("{count:>8} {ms:>10.1} {:>12.0}", took.as_secs_f64() * 1e9 / count as f64);
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
