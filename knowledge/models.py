"""SQLAlchemy models of the knowledge base (2.0-style declarative mapping on SQLAlchemy 1.4).

Only :mod:`knowledge.build` writes these tables and only :mod:`knowledge.repository` reads
them; the rest of the project sees dataclasses, never these rows.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeMeta, declarative_base, relationship

# SQLAlchemy 1.4 ships no type information: the annotation tells mypy that Base is a class
# (made by DeclarativeMeta), so the models below may subclass it.
Base: DeclarativeMeta = declarative_base()


class Document(Base):
    """The notice itself: one row."""

    __tablename__ = "kb_document"

    id = Column(Integer, primary_key=True)
    notice_title = Column(Text, nullable=False)
    title = Column(Text, nullable=False)
    issuer = Column(String(100), nullable=False)
    issued_on = Column(Date, nullable=False)
    publication = Column(String(50), nullable=False)
    source_sha256 = Column(String(64), nullable=False)
    content_digest = Column(String(64), nullable=False)


class Section(Base):
    """One of the five sections (一、强化严打整治 …)."""

    __tablename__ = "kb_section"

    number = Column(Integer, primary_key=True, autoincrement=False)
    label = Column(String(10), nullable=False)
    title = Column(String(100), nullable=False)
    measures = relationship("Measure", back_populates="section", order_by="Measure.number")


class Measure(Base):
    """One of the 50 numbered measures, text as written."""

    __tablename__ = "kb_measure"

    number = Column(Integer, primary_key=True, autoincrement=False)
    label = Column(String(20), nullable=False)
    title = Column(String(200), nullable=False)
    section_number = Column(Integer, ForeignKey("kb_section.number"), nullable=False, index=True)
    text = Column(Text, nullable=False)
    source_line = Column(Integer, nullable=False)
    section = relationship("Section", back_populates="measures")
    sentences = relationship("Sentence", back_populates="measure", order_by="Sentence.position")


class Sentence(Base):
    """A sentence of a measure, in order."""

    __tablename__ = "kb_sentence"
    __table_args__ = (UniqueConstraint("measure_number", "position"),)

    id = Column(Integer, primary_key=True)
    measure_number = Column(Integer, ForeignKey("kb_measure.number"), nullable=False)
    position = Column(Integer, nullable=False)
    text = Column(Text, nullable=False)
    measure = relationship("Measure", back_populates="sentences")
    facts = relationship("Fact", back_populates="sentence", order_by="Fact.start")


class Fact(Base):
    """A typed fact found by rule matching in one sentence."""

    __tablename__ = "kb_fact"
    __table_args__ = (Index("ix_kb_fact_measure_type", "measure_number", "type"),)

    id = Column(Integer, primary_key=True)
    measure_number = Column(Integer, ForeignKey("kb_measure.number"), nullable=False)
    sentence_id = Column(Integer, ForeignKey("kb_sentence.id"), nullable=False)
    type = Column(String(20), nullable=False)
    value = Column(String(100), nullable=False)
    canonical = Column(String(100), nullable=False)
    start = Column(Integer, nullable=False)
    end = Column(Integer, nullable=False)
    sentence = relationship("Sentence", back_populates="facts")


class Term(Base):
    """A lexicon term of the document, by fact type."""

    __tablename__ = "kb_term"

    term = Column(String(100), primary_key=True)
    type = Column(String(20), nullable=False)
    canonical = Column(String(100), nullable=False)


class Alias(Base):
    """What residents say (alias) against the document's term."""

    __tablename__ = "kb_alias"

    alias = Column(String(100), primary_key=True)
    term = Column(String(100), nullable=False)
