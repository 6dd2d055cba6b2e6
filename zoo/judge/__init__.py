"""Judging, from saved facts only: loading the facts, the statistical tests, the typed
comparisons, the words and the verdict. Never imports a Keras backend."""
