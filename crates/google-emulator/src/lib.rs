//! A local Google for tests, the demo and benchmarks. Filled in by the emulator work.
