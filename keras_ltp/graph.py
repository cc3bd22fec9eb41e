"""The dataflow of a Sequential or Functional model, read from its config.

`get_config()` is the public record of how a graph model's layers are wired
(it is what `.keras` files store), so channel planning and `shrink()` read
the graph from it instead of from Keras' private node objects. A tensor is
named by its Keras history `(layer name, node index, tensor index)`.
"""

import keras

from keras_ltp.walk import is_graph_model

__all__ = ["Graph", "GraphReadError", "Node"]


class GraphReadError(TypeError):
    """A graph model's config (where the graph is read from) cannot be made:
    one of its layers' `get_config()` raises."""


class Node:
    """One call of a layer in the graph.

    Attributes:
        layer: the layer called.
        inputs: the tensor keys it reads, in order.
        output: the key of its (first) output tensor.
        masks: the keys of the Keras masks passed to it (`mask=`: the
            boolean time-step masks of `Embedding(mask_zero=True)`). They
            are not in `inputs`, nor read as channels: a mask is boolean,
            never a producer's output.
    """

    def __init__(self, layer, inputs, output, masks=()):
        self.layer, self.inputs, self.output, self.masks = layer, list(inputs), output, list(masks)

    def __repr__(self):
        return f"Node({self.layer.name!r}, {self.inputs} -> {self.output})"


class Graph:
    """The nodes of a graph model in call order, with who reads each tensor.

    Attributes:
        nodes: list of `Node`, in an order where inputs come first.
        consumers: `{tensor key: [Node]}`.
        producer: `{tensor key: Node}`.
        inputs: the model's input tensor keys.
        input_shapes: `{input key: shape}` (empty for an unbuilt model).
        outputs: the model's output tensor keys.
        calls: `{id(layer): number of nodes that call it}`.

    Example:
    >>> import keras
    >>> from keras_ltp.graph import Graph
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="a"), keras.layers.Dense(1, name="b")])
    >>> [n.layer.name for n in Graph(model).consumers[("a", 0, 0)]]
    ['b']
    """

    def __init__(self, model):
        if not (isinstance(model, keras.Model) and is_graph_model(model)):
            raise TypeError(f"{getattr(model, 'name', model)!r} is not a Sequential or Functional model.")
        self.nodes, self.inputs, self.outputs = [], [], []
        if isinstance(model, keras.Sequential):
            self._read_sequential(model)
        else:
            self._read_functional(model)
        # An unbuilt Sequential has no inputs yet (prune() then finds nothing built to plan).
        shapes = [tuple(t.shape) for t in model.inputs] if model.built else []
        self.input_shapes = dict(zip(self.inputs, shapes))
        self.consumers, self.producer, self.calls = {}, {}, {}
        for node in self.nodes:
            self.producer[node.output] = node
            for index in range(1, _output_count(node.layer)):  # a layer's other outputs (attention scores, ...)
                self.producer[node.output[:2] + (index,)] = node
            self.calls[id(node.layer)] = self.calls.get(id(node.layer), 0) + 1
            for key in node.inputs:
                self.consumers.setdefault(key, []).append(node)

    def _read_sequential(self, model):
        previous = ("__input__", 0, 0)
        self.inputs.append(previous)
        for layer in model.layers:
            key = (layer.name, 0, 0)
            self.nodes.append(Node(layer, [previous], key))
            previous = key
        self.outputs.append(previous)

    def _read_functional(self, model):
        name = model.name
        try:
            config = model.get_config()
            if "layers" not in config:
                # A class with a config of its own (a KerasHub backbone): its
                # graph, as a plain Functional model over the same calls has it.
                model = keras.Model(model.inputs, model.outputs, name=model.name)
                config = model.get_config()
        except Exception as error:  # noqa: BLE001 - any layer's get_config() may raise
            raise GraphReadError(
                f"The graph of model {name!r} cannot be read from its config: {type(error).__name__}: "
                f"{str(error).strip()[:300]}"
            ) from error
        # `operations`, not `layers`: a `keras.ops` call (`x + y`) is a node too.
        by_name = {op.name: op for op in model.operations}
        for entry in config["layers"]:
            layer = by_name[entry["name"]]
            if isinstance(layer, keras.layers.InputLayer):
                continue
            for index, inbound in enumerate(entry.get("inbound_nodes", [])):
                kwargs = dict(inbound.get("kwargs", {}))
                masks = _tensor_keys(kwargs.pop("mask", None) or [])
                inputs = _tensor_keys([inbound.get("args", []), kwargs])
                self.nodes.append(Node(layer, inputs, (layer.name, index, 0), masks))
        self.inputs = [tuple(k) for k in _history_list(config["input_layers"])]
        self.outputs = [tuple(k) for k in _history_list(config["output_layers"])]

    def is_output(self, key):
        return key in self.outputs

    def shape(self, key):
        """The shape of tensor `key`, or None where Keras does not say
        (the output of a layer called more than once)."""
        if key in self.producer:
            try:
                output = self.producer[key].layer.output
            except (AttributeError, ValueError):
                return None
            outputs = keras.tree.flatten(output)
            return tuple(outputs[key[2]].shape) if key[2] < len(outputs) else None
        shape = self.input_shapes.get(key)
        return None if shape is None else tuple(shape)


def _output_count(layer):
    try:
        return len(keras.tree.flatten(layer.output))
    except (AttributeError, ValueError):
        return 1


def _history_list(value):
    """`input_layers`/`output_layers` hold one `[name, node, tensor]` or a list (nested) of them."""
    if isinstance(value, (list, tuple)) and len(value) == 3 and isinstance(value[0], str):
        return [value]
    found = []
    for item in value.values() if isinstance(value, dict) else value:
        found.extend(_history_list(item))
    return found


def _tensor_keys(structure):
    found = []
    if isinstance(structure, dict):
        if structure.get("class_name") == "__keras_tensor__":
            found.append(tuple(structure["config"]["keras_history"]))
            return found
        for value in structure.values():
            found.extend(_tensor_keys(value))
    elif isinstance(structure, (list, tuple)):
        for value in structure:
            found.extend(_tensor_keys(value))
    return found
