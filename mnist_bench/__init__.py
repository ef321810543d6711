"""mnist-bench: one Keras 3 spec trained on TensorFlow, JAX and PyTorch beside a scikit-learn
baseline, with accuracy, epoch time and throughput recorded into comparable tables.

Nothing here imports keras: the backend is chosen in each worker process (see worker.py).
"""

__version__ = "0.1.0"
