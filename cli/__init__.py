"""The ``transfer`` command line (installed as the ``transfer_cli`` package)."""
