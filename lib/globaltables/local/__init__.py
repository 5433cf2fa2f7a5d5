"""The embedded AWS: a moto server on loopback, extended with what moto lacks.

A separate world from the client library: the library never imports this package; notebooks and
the CLI only learn its endpoint (see ``globaltables.endpoint``).
"""

from globaltables.local.process import EmbeddedAWS, EmbeddedAWSError

__all__ = ["EmbeddedAWS", "EmbeddedAWSError"]
