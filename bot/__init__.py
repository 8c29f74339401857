"""广西公安“放管服”政务问答助手: the project's own package (CLI, channels, NLU components).

Importing this package is cheap: heavy dependencies (Rasa, spaCy) are imported by the
submodules that need them, never here.
"""
