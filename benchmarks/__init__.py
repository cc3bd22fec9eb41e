"""The benchmarks: run each from the repository root as a module,
`python -m benchmarks.NAME` (see benchmarks/README.md)."""
