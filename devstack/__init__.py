"""Local stack tooling: private network namespace, services, dev loop."""
