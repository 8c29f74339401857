"""Custom Rasa NLU components of the project."""
