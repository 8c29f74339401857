"""The web server (bot.webapp.server): the residents' page and the staff console."""
