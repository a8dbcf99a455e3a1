"""The key ring of health data at rest from the settings, and ``hellodoctor keys``:

* ``hellodoctor keys generate`` prints a fresh random key (base64) for the key ring or the
  blind index;
* ``hellodoctor keys rewrap [--batch N]`` seals every health-data value of the configured
  storage under the current key, in batches, while the API keeps serving; run it again until
  it seals nothing, then the old key may leave the ring (docs/encryption.md, the runbook).
  With ``HELLODOCTOR_PHI_PREVIOUS_INDEX_KEYS`` set and a new current data key, it also moves
  every blind index to the new index key while lookups match old and new.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import click

from hellodoctor_http.config import ConfigurationError, Settings

if TYPE_CHECKING:
    from hellodoctor_adapters.crypto import FieldCipher

_log = logging.getLogger(__name__)


def cipher_for(settings: Settings) -> FieldCipher:
    """The field cipher over the configured key ring; without one (development only:
    production refuses to start, ``config.py``), the public development ring."""
    from hellodoctor_adapters.crypto import FieldCipher, development_cipher, key_ring_from_text

    if settings.phi_keys is None or settings.phi_index_key is None:
        if settings.is_production:  # config refuses this first; never seal under a public key
            raise ConfigurationError("production needs HELLODOCTOR_PHI_KEYS")
        _log.warning(
            "no HELLODOCTOR_PHI_KEYS: health data is sealed under the PUBLIC development key"
        )
        return development_cipher()
    ring = key_ring_from_text(
        settings.phi_keys,
        settings.phi_current_key,
        settings.phi_index_key,
        settings.phi_previous_index_keys,
    )
    return FieldCipher(ring)


@click.group()
def keys() -> None:
    """Encryption keys of health data at rest (docs/encryption.md)."""


@keys.command()
def generate() -> None:
    """Print a fresh random 256-bit key, base64 (for HELLODOCTOR_PHI_KEYS or _INDEX_KEY)."""
    from hellodoctor_adapters.crypto import new_key_text

    click.echo(new_key_text())


@keys.command()
@click.option("--batch", type=click.IntRange(1, 10_000), default=500, show_default=True)
def rewrap(batch: int) -> None:
    """Seal every health-data value under the current key (resumable; run until it reports
    nothing sealed again)."""
    from hellodoctor_adapters.crypto import EncryptionError
    from hellodoctor_adapters.registry import UnknownStorage, open_storage
    from hellodoctor_domain.errors import PortError

    try:
        settings = Settings.from_environ(os.environ)
    except ConfigurationError as error:
        raise click.ClickException(f"configuration refused: {error}") from error
    cipher = cipher_for(settings)
    try:
        storage = open_storage(settings.database_url, cipher=cipher)
    except (PortError, UnknownStorage) as error:
        raise click.ClickException(str(error)) from error
    run = getattr(storage, "rewrap", None)
    if run is None:
        click.echo("this storage keeps nothing at rest: nothing to rewrap")
        return
    try:
        report = run(batch)
    except (PortError, EncryptionError) as error:
        raise click.ClickException(str(error)) from error
    finally:
        close = getattr(storage, "dispose", None) or getattr(storage, "close", None)
        if close is not None:
            close()
    for line in report.lines():
        click.echo(line)
    click.echo(
        f"current key {cipher.ring.current_key_id}: {report.rewrapped} values sealed again"
        + ("" if report.rewrapped else "; every value is under the current key")
    )
    if settings.phi_previous_index_keys:
        click.echo(
            "blind indexes: rewritten under HELLODOCTOR_PHI_INDEX_KEY with each value sealed "
            "again; the index key moves only together with a new current data key "
            "(docs/encryption.md, rotating the index key)"
        )
