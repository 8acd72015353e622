//! What a run folder records about the process beyond the model: the seed the program set,
//! and the message of a panic that ended it.

use burn::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, Once};

static SEED: AtomicU64 = AtomicU64::new(0);
static SEEDED: AtomicBool = AtomicBool::new(false);
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);
static HOOK: Once = Once::new();

/// Seeds `device`'s random number generator, as `device.seed(seed)` does, and remembers the
/// seed so that every run folder this process writes records it in its manifest (burn has
/// no way to read a seed back).
///
/// ```
/// let device = burn::prelude::Device::flex().autodiff();
/// gradflow::seed(&device, 42);
/// ```
pub fn seed(device: &Device, seed: u64) {
    device.seed(seed);
    SEED.store(seed, Ordering::SeqCst);
    SEEDED.store(true, Ordering::SeqCst);
}

/// The seed set through [`seed`], if any.
pub(crate) fn recorded() -> Option<u64> {
    SEEDED.load(Ordering::SeqCst).then(|| SEED.load(Ordering::SeqCst))
}

/// Keeps the message of the process's last panic, for the manifest of a run that the panic
/// ends: the previous hook (the default one prints the message) still runs.
pub(crate) fn keep_panic_messages() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(a panic without a message)".to_string());
            let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
            if let Ok(mut last) = LAST_PANIC.lock() {
                *last = Some(format!("{message}{at}"));
            }
            previous(info);
        }));
    });
}

/// The message of the process's last panic since [`keep_panic_messages`].
pub(crate) fn last_panic() -> Option<String> {
    LAST_PANIC.lock().ok().and_then(|m| m.clone())
}
