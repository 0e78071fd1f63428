"""Tests for the bess integration."""
