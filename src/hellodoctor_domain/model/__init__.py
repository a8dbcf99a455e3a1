"""The model: aggregates, value objects and domain events, one module per aggregate family.
No ports, no use cases: the model knows nothing of storage or of the outside world."""
