//! Placeholder library target so the package builds; the tests live in `it/`.
