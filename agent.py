"""Operator entry point: `python agent.py dev|start|console`.

This file is only a launcher. The worker lives in the package `agent/` (a package takes
precedence over this module when Python resolves `import agent`, so the imports below are
unambiguous). `python -m agent ...` does the same.
"""

from agent.cli import main

if __name__ == "__main__":
    main()
