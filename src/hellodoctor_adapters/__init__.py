"""Implementations of HelloDoctor's ports. ``memory`` is the reference every other adapter is
held to by the contract suite in ``hellodoctor_adapters.testing``."""
