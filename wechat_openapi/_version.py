"""The single source of the package version (setup.cfg and the User-Agent read it)."""

__version__ = "0.1.0"
