"""Custom Rasa NLU components of the project.

Rasa imports this package in every process that loads our model (server, shell, tests), so the
measured speed-up of :mod:`bot.rasa_ext.rasa_patches` is installed here.
"""

from bot.rasa_ext import rasa_patches

rasa_patches.apply()
