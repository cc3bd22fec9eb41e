"""The public namespace: what `import keras_ltp` gives a user."""

import keras_ltp


def test_every_public_name_is_reachable_after_import_keras_ltp():
    for name in keras_ltp.__all__:
        assert getattr(keras_ltp, name) is not None, name
    # README: keras_ltp.plot.trail(...) right after `import keras_ltp`.
    assert callable(keras_ltp.plot.trail) and callable(keras_ltp.plot.layer_sparsity)
    assert callable(keras_ltp.trail.select)
