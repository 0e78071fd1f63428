"""The bess engine: the battery optimizer and its stores, in pure Python and numpy.

Nothing in this package imports Home Assistant; the integration wires it to Home Assistant
through the protocols in `ports.py`.
"""
