"""Checking the assistant: the evaluation over case files and the data validation."""
