"""The test kit for plugin authors: :func:`check_plugin`, :func:`registered` and
:func:`registry`, with :class:`PluginCheck`, what a check found (the ``zoo_plugin`` pytest
fixture comes with them from zoo.plugin_test). zoo's own fakes for its tests and benchmarks
(made-up facts, trainers that train nothing) are zoo.grid.fakes, not part of this kit."""
from zoo.plugin_test import PluginCheck, check_plugin, registered, registry

__all__ = ["check_plugin", "registry", "registered", "PluginCheck"]
