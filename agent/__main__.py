"""`python -m agent dev|start|console`: the same as `python agent.py ...`."""

from agent.cli import main

main()
