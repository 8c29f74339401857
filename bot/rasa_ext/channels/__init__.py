"""Rasa input channels (REST, the web page, staff, WeChat), registered in credentials.yml."""
