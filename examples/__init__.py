"""The examples, importable from the repository root as a package, so that
the benchmarks (`python -m benchmarks.NAME`) import `examples.common` like
any module. The examples themselves run as scripts: `python examples/NAME.py`.
"""
