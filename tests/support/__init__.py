"""Test helpers shared by every level of the suite."""
