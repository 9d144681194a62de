"""The web page browser callers talk to the agent from, and its token endpoint.

`python -m agent.web` serves it (started by `make dev`); server.py is the aiohttp app,
tokens.py the token endpoint's rules, static/ the page, built on livekit-client from npm.
"""
