"""``python -m convbench`` is the ``convbench`` command."""
from convbench.cli import main

main()
