"""The store's schema revisions, one file each, in order (see the package's docstring)."""
