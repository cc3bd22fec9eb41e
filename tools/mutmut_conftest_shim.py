# Appended to tests/conftest.py of the throw-away copy by tools/mutation.sh; never
# part of the real suite.
# mutmut's trampolines are `(*args, **kwargs)`; Keras's Operation.__new__ reads
# the argspec of a layer's __init__ and fails on that. Give each __init__
# trampoline the signature of the function it stands for.
try:
    import inspect as _inspect

    import mutmut.mutation.trampoline as _trampoline

    _wrap_orig = _trampoline.wrap_in_trampoline

    def _wrap_with_signature(mutants_dict, is_classmethod=False):
        decorate = _wrap_orig(mutants_dict, is_classmethod)

        def apply(func):
            wrapped = decorate(func)
            if func.__name__ == "__init__":  # only Operation.__new__ needs it
                wrapped.__signature__ = _inspect.signature(func)
            return wrapped

        return apply

    _trampoline.wrap_in_trampoline = _wrap_with_signature
except ImportError:
    pass
