"""Rasa input channels (REST, staff, WeChat), registered in credentials.yml."""
