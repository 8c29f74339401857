"""Rasa SDK custom actions: thin classes over :mod:`actions.answering` and the knowledge base."""
