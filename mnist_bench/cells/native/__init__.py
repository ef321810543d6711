"""Native reference loops: each framework's own idiom, derived from a Keras spec's layers.

``layers.describe`` turns a Keras model into a framework-free list of operations with the
model's own initial weights; ``torch_loop``, ``jax_loop`` and ``tf_loop`` train that list in
their framework's idiom (``loop.run_cell`` drives them with the harness's clock).
"""
