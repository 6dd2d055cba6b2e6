from pathlib import Path

from setuptools import setup

setup(
    name="keras-zoo",
    version="0.1.0",
    description="A Keras model zoo that compares image-classification architectures under "
                "one shared k-fold protocol and writes an offline report",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    # The built-in plugins live in plugins/ and install as `zoo_plugins` (never as a
    # top-level package called `plugins`).
    # templates/ installs as `zoo.templates`, next to the code that renders it.
    packages=["zoo", "zoo.grid", "zoo.grid.executors", "zoo.tune", "zoo.judge", "zoo.show",
              "zoo.templates", "zoo_plugins", "zoo_plugins.images"],
    package_dir={"zoo": "zoo", "zoo.templates": "templates", "zoo_plugins": "plugins"},
    package_data={"zoo.templates": ["*.html", "*.css", "*.js"]},
    install_requires=[
        "tensorflow>=2.16,<2.22",
        "keras>=3.3,<4",
        "scikit-learn>=1.3",
        "scipy>=1.10",
        "numpy>=1.26",
        "jinja2>=3.1",
        "plotly>=5.18",
        "click>=8.1",
        "pluggy>=1.3",
        "pillow>=10",
        "rich>=13",
        "optuna>=3.0,<6",
    ],
    extras_require={
        "gpu": ["tensorflow[and-cuda]>=2.16,<2.22"],
        "ray": ["ray>=2.9"],
        # other Keras backends (--backend jax|torch); zoo then needs no TensorFlow import
        "jax": ["jax>=0.4.30"],
        "torch": ["torch>=2.1"],
        # KerasHub backbones (zoo_plugins.hub); it brings tensorflow-text
        "hub": ["keras-hub>=0.32"],
        # the suite tests the Ray executor too (tests/test_ray.py); pytest below 9.2: 9.2 keeps
        # node ids where pytest-xdist 3.8's --dist loadgroup cannot add a test's group, so
        # grouped tests (one Ray instance at a time) were spread over workers
        "test": ["pytest>=8,<9.2", "pytest-xdist>=3.5", "hypothesis>=6.80", "statsmodels>=0.14", "ray>=2.9", "ruff>=0.5",
                 "radon>=6", "pyyaml>=6",
                 "keras-hub>=0.32", "onnx>=1.15", "onnxruntime>=1.17", "tf2onnx>=1.16",
                 "mlflow-skinny>=3", "jax>=0.4.30", "torch>=2.1",
                 # ONNX on JAX (the fast tier runs on JAX and PyTorch too)
                 "jax2onnx>=0.17"],
        "lint": ["ruff>=0.5", "radon>=6"],
        # zoo export model --format onnx (Keras writes ONNX through tf2onnx; ONNX Runtime
        # checks it and times it)
        "export": ["onnx>=1.15", "onnxruntime>=1.17", "tf2onnx>=1.16"],
        # zoo export mlflow, zoo run --mlflow (the client and file stores; no server)
        "mlflow": ["mlflow-skinny>=3"],
    },
    entry_points={
        "console_scripts": ["zoo = zoo.cli:main"],
        # the zoo_plugin fixture for plugin authors' tests (zoo.plugin_test)
        "pytest11": ["zoo = zoo.plugin_test"],
        "zoo": [
            "cnn = zoo_plugins.cnn",
            "vit = zoo_plugins.vit",
            "digits = zoo_plugins.digits",
            "sign-mnist = zoo_plugins.sign_mnist",
            "images = zoo_plugins.images",
            "hub = zoo_plugins.hub",
            "metrics = zoo_plugins.metrics",
        ],
    },
)
