"""``python -m convbench`` is the ``convbench`` command."""
from .cli import main

main()
