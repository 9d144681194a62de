"""Test helpers shared by unit, behaviour and integration tests."""
