"""The knowledge base: the 2018 notice parsed into SQL tables, and queries over it.

- :mod:`knowledge.parser` reads the source document into dataclasses;
- :mod:`knowledge.facts` splits sentences and extracts facts with spaCy rule matching;
- :mod:`knowledge.lexicon` loads the term lexicon and the alias table;
- :mod:`knowledge.build` writes the tables atomically;
- :mod:`knowledge.repository` answers queries with dataclasses.
"""
