"""What Rasa loads by name from config.yml, credentials.yml and endpoints*.yml.

Input channels and their guard, NLU components, the lock store, the patches.
"""
