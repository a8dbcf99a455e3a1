"""Ports: what the domain needs from the outside world, and nothing about how it is done.

One module per capability: storage of scheduling, identity and payments behind one
:mod:`~hellodoctor_domain.ports.unit_of_work` (repositories of aggregates share the tracking
base of :mod:`~hellodoctor_domain.ports.repository`), and the outside services (clock and ids, the
payment gateway, notifications, blob storage, password hashing and sign-in security). Every
adapter raises only the ``PortError`` family from :mod:`hellodoctor_domain.errors` (and
``SlotUnavailable``), translating its driver's exceptions.
"""
