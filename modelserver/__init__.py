"""A SageMaker-compatible model server for scikit-learn style programs.

It implements the SageMaker inference container contract (``serve``, ``GET /ping``,
``POST /invocations`` on port 8080) and the scikit-learn framework container's handler semantics
(``model_fn``/``input_fn``/``predict_fn``/``output_fn`` or ``transform_fn`` in
``SAGEMAKER_PROGRAM``), and micro-batches concurrent requests into one ``predict`` call. It knows
nothing of any particular model. See README.md. Importing this package imports nothing heavy, so
the CLI can set thread-pool variables before numpy loads.
"""

__version__ = "0.1.0"
