"""The grid of (dataset, model, fold) cells and how it runs: the protocol and its splits,
the plan, the cell contract, the fold runner, distribution, the executors (local, Ray) and
the engine that drives them. The only package that touches a Keras backend (TensorFlow
today), always lazily. (Named grid, not run: ``zoo.run()`` is the Python API's function.)"""
