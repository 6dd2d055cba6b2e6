"""zoo's built-in plugins, installed as the ``zoo_plugins`` package and registered through the
``zoo`` entry-point group exactly like a third-party plugin."""
