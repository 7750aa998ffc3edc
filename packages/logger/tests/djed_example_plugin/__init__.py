"""A tiny third-party plugin for every Djed entry-point group, installed by the tests.

``_djed_plugin_kit`` copies this package next to a ``djed_example_plugin-1.0.dist-info``
folder, so that ``importlib.metadata`` finds its entry points as it finds any installed
distribution's. Each module serves one group and is imported only when that group loads it.
"""
