"""Parse the 2018 notice from its plain-text source into plain dataclasses.

The parser knows the shape of the document, not its content: a notice title, the issuer and
date, the title of the 实施意见, numbered section headers (``一、强化严打整治``) and numbered
measures (``（二十二）全面放开人才落户限制。…``), and a footer with ``（公开方式：…）``.
Anything that breaks that shape (a measure missing, repeated or out of order, a section
header missing, a truncated file) raises :class:`SourceError` naming the line.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

EXPECTED_SECTIONS = 5
EXPECTED_MEASURES = 50

_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_NUMERAL = "一二三四五六七八九十零两"
_SECTION_RE = re.compile(rf"^([{_NUMERAL}]+)、\s*(\S.*)$")
_MEASURE_RE = re.compile(rf"^（([{_NUMERAL}]+)）\s*(.*)$")
_DATE_RE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$")
_PUBLICATION_RE = re.compile(r"^（公开方式[：:]\s*(.+?)）$")
_FOOTER_RE = re.compile(r"^抄送[：:]")


class SourceError(ValueError):
    """The source document is missing, unreadable or not shaped like the notice.

    Attributes:
        line: 1-based line number the problem was found at, or None for whole-file problems.
    """

    def __init__(self, message: str, line: int | None = None, path: Path | str | None = None):
        self.line = line
        self.path = str(path) if path else None
        where = ""
        if path:
            where = f"{path}"
        if line is not None:
            where = f"{where}:{line}" if where else f"line {line}"
        super().__init__(f"{where}: {message}" if where else message)


def chinese_numeral(text: str) -> int:
    """Convert a Chinese numeral up to 99 (``二十二`` → 22).

    Raises:
        ValueError: the text is not such a numeral.
    """
    if not text or any(ch not in _DIGITS and ch != "十" for ch in text):
        raise ValueError(f"not a Chinese numeral: {text!r}")
    if "十" not in text:
        if len(text) != 1:
            raise ValueError(f"not a Chinese numeral: {text!r}")
        return _DIGITS[text]
    tens, _, units = text.partition("十")
    if "十" in units or len(tens) > 1 or len(units) > 1:
        raise ValueError(f"not a Chinese numeral: {text!r}")
    return (_DIGITS[tens] if tens else 1) * 10 + (_DIGITS[units] if units else 0)


def to_chinese_numeral(number: int) -> str:
    """The inverse of :func:`chinese_numeral` for 1..99 (22 → ``二十二``)."""
    if not 0 < number < 100:
        raise ValueError(f"out of range: {number}")
    names = "零一二三四五六七八九"
    tens, units = divmod(number, 10)
    if tens == 0:
        return names[units]
    return (names[tens] if tens > 1 else "") + "十" + (names[units] if units else "")


@dataclass
class ParsedMeasure:
    """One numbered measure as written."""

    number: int
    label: str
    title: str
    text: str
    section_number: int
    line: int


@dataclass
class ParsedSection:
    """One of the five numbered sections."""

    number: int
    label: str
    title: str
    line: int


@dataclass
class ParsedDocument:
    """The whole notice: front matter, sections and measures."""

    notice_title: str
    title: str
    issuer: str
    issued_on: date
    publication: str
    source_sha256: str
    sections: list[ParsedSection] = field(default_factory=list)
    measures: list[ParsedMeasure] = field(default_factory=list)


def read_source(path: Path | str) -> str:
    """Read the source file as UTF-8 text.

    Raises:
        SourceError: the file is missing, not UTF-8, or empty.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise SourceError("source document not found", path=path) from exc
    except OSError as exc:
        raise SourceError(f"cannot read source document: {exc.strerror}", path=path) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SourceError("source document is not UTF-8 text", line=line, path=path) from exc
    if not text.strip():
        raise SourceError("source document is empty", path=path)
    return text


def parse_file(path: Path | str) -> ParsedDocument:
    """Read and parse the source file; see :func:`parse_text`."""
    text = read_source(path)
    try:
        return parse_text(text)
    except SourceError as exc:
        raise SourceError(str(exc), line=None, path=path) from exc


def parse_text(text: str) -> ParsedDocument:
    """Parse the notice.

    Args:
        text: the whole source document.

    Returns:
        The parsed document with exactly 5 sections and 50 measures.

    Raises:
        SourceError: the text does not have the notice's shape; the message names the line.
    """
    if "\x00" in text:
        raise SourceError("source document contains NUL bytes: it is not a text file")
    if not text.strip():
        raise SourceError("source document is empty")
    lines = [ln.strip().replace("\u3000", " ").strip() for ln in text.splitlines()]
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()

    first_section = next((i for i, ln in enumerate(lines) if _SECTION_RE.match(ln)), None)
    first_measure = next((i for i, ln in enumerate(lines) if _MEASURE_RE.match(ln)), None)
    if first_measure is None:
        raise SourceError("no numbered measure such as （一） found: this is not the 放管服 notice")
    if first_section is None or first_measure < first_section:
        raise SourceError(
            f"measure {lines[first_measure][:8]}… comes before any section header such as 一、强化严打整治",
            line=first_measure + 1,
        )
    notice_title, issuer, issued_on, title = _front_matter(lines[:first_section])

    sections: list[ParsedSection] = []
    measures: list[ParsedMeasure] = []
    publication = None
    seen_numbers: dict[int, int] = {}
    end = len(lines)
    for index in range(first_section, len(lines)):
        line, lineno = lines[index], index + 1
        if not line:
            continue
        if m := _PUBLICATION_RE.match(line):
            publication = m.group(1).strip()
            end = index
            break
        if _FOOTER_RE.match(line):
            end = index
            break
        if m := _SECTION_RE.match(line):
            sections.append(_section(m, lineno, sections))
            continue
        if m := _MEASURE_RE.match(line):
            measures.append(_measure(m, lineno, measures, sections, seen_numbers))
            continue
        if not measures or measures[-1].section_number != sections[-1].number:
            raise SourceError(f"unexpected text outside any measure: {line[:30]!r}", line=lineno)
        # A measure that continues on the next paragraph.
        measures[-1].text += line

    last_line = measures[-1].line if measures else first_section + 1
    if len(measures) != EXPECTED_MEASURES:
        raise SourceError(
            f"found {len(measures)} measures, expected {EXPECTED_MEASURES}: the document ends after "
            f"measure {measures[-1].label if measures else '(none)'}; it looks truncated",
            line=last_line,
        )
    if len(sections) != EXPECTED_SECTIONS:
        raise SourceError(
            f"found {len(sections)} section headers, expected {EXPECTED_SECTIONS} (一 to 五); "
            f"the last one found is {sections[-1].label + sections[-1].title if sections else '(none)'}",
            line=sections[-1].line,
        )
    if publication is None:
        raise SourceError("no （公开方式：…） line after the last measure: the document looks truncated", line=end)
    for measure in measures:
        if not measure.text.endswith(("。", "；", "”")):
            raise SourceError(
                f"measure {measure.label} does not end with 。: the text looks cut off", line=measure.line
            )
    return ParsedDocument(
        notice_title=notice_title,
        title=title,
        issuer=issuer,
        issued_on=issued_on,
        publication=publication,
        source_sha256=sha,
        sections=sections,
        measures=measures,
    )


def _front_matter(lines: list[str]) -> tuple[str, str, date, str]:
    """Notice title, issuer, date and the 实施意见's own title from the lines before section 一."""
    date_match, date_index = next(((m, i) for i, ln in enumerate(lines) if (m := _DATE_RE.match(ln))), (None, None))
    if date_match is None or date_index is None:
        raise SourceError("no issue date such as 2018年8月10日 before the first section", line=1)
    year, month, day = (int(x) for x in date_match.groups())
    try:
        issued_on = date(year, month, day)
    except ValueError as exc:
        raise SourceError(f"issue date {lines[date_index]} is not a real date", line=date_index + 1) from exc

    title_lines: list[str] = []
    for ln in lines:
        if not ln:
            if title_lines:
                break
            continue
        title_lines.append(ln)
    notice_title = "".join(title_lines)
    if not notice_title.endswith("通知"):
        raise SourceError(f"the first paragraph {notice_title[:30]!r} is not a notice title (…的通知)", line=1)

    issuer = next((ln for ln in reversed(lines[:date_index]) if ln and not ln.startswith("[")), "")
    if not issuer.endswith(("公安厅", "公安局", "办公室")):
        raise SourceError(f"no issuer line (…公安厅) above the date, found {issuer[:20]!r}", line=date_index)

    title_parts = []
    for ln in lines[date_index + 1 :]:
        if not ln:
            continue
        if ln.endswith(("。", "：")) or len(ln) > 40:
            break
        title_parts.append(ln)
    title = "".join(title_parts)
    if not title:
        raise SourceError("no title of the 实施意见 after the issue date", line=date_index + 2)
    return notice_title, issuer, issued_on, title


def _section(m: re.Match, lineno: int, sections: list[ParsedSection]) -> ParsedSection:
    try:
        number = chinese_numeral(m.group(1))
    except ValueError as exc:
        raise SourceError(str(exc), line=lineno) from exc
    expected = len(sections) + 1
    if number != expected:
        if number > expected:
            missing = "、".join(to_chinese_numeral(n) for n in range(expected, number))
            problem = f"section header {missing}、 is missing"
        else:
            problem = f"section {m.group(1)}、 is repeated or out of order"
        raise SourceError(
            f"section {m.group(1)}、{m.group(2)} found where section {to_chinese_numeral(expected)}、 was expected: "
            f"{problem}",
            line=lineno,
        )
    return ParsedSection(number=number, label=f"{m.group(1)}、", title=m.group(2).strip(), line=lineno)


def _measure(
    m: re.Match,
    lineno: int,
    measures: list[ParsedMeasure],
    sections: list[ParsedSection],
    seen: dict[int, int],
) -> ParsedMeasure:
    label = f"（{m.group(1)}）"
    try:
        number = chinese_numeral(m.group(1))
    except ValueError as exc:
        raise SourceError(f"measure label {label}: {exc}", line=lineno) from exc
    if number in seen:
        raise SourceError(f"measure {label} repeats the number of the measure at line {seen[number]}", line=lineno)
    expected = len(measures) + 1
    if number != expected:
        previous = measures[-1].label if measures else "the start"
        what = "is missing" if number > expected else "is out of order"
        raise SourceError(
            f"measure {label} follows {previous}; measure （{to_chinese_numeral(expected)}） {what}",
            line=lineno,
        )
    seen[number] = lineno
    text = m.group(2).strip()
    title, dot, _ = text.partition("。")
    if not dot or not title or len(title) > 60:
        raise SourceError(f"measure {label} has no heading phrase ending in 。", line=lineno)
    return ParsedMeasure(
        number=number, label=label, title=title, text=text, section_number=sections[-1].number, line=lineno
    )
