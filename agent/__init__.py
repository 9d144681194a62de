"""The phone agent worker: configuration, providers, the agent, its tools and telephony."""
