"""Two or three questions in one message, and corrections ("不是问X，是问Y"), found in the text.

Pure functions: the channels parse each part with Rasa's NLU (:mod:`bot.rasa_ext.parts`) and the
answering action decides each (``actions/actions.py``). A message is split only where a
question ends (？ or ?) or a connector starts a new one (另外, 还有, 顺便问一下 …), and only when
every part is itself a question of at least :data:`MIN_PART_CJK` Chinese characters; commas never
split (a story's clauses are one question). At most :data:`MAX_PARTS` parts: the rest stays with
the last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.text.cjk import count_cjk

MAX_PARTS = 3
MIN_PART_CJK = 4
# "另外"/"还有"/"顺便问一下"/"再问一下"/"还想问" … at the start of a new question
CONNECTORS = (
    "另外",
    "还有就是",
    "还有",
    "顺便问一下",
    "顺便问下",
    "顺便问问",
    "再问一下",
    "再问下",
    "还想问一下",
    "还想问",
    "以及",
    "此外",
    "另一个问题",
    "第二个问题",
    "第二",
)
_BOUNDARY = re.compile(r"(?<=[？?])\s*|[。；;！!\s，,]\s*(?=(?:" + "|".join(map(re.escape, CONNECTORS)) + r"))")
_LEADING = re.compile(r"^[\s，,。；;：:、]*(?:" + "|".join(map(re.escape, CONNECTORS)) + r")[\s，,：:、]*")
# "我不是问身份证，是问驾驶证……", "不是要问户口，我想问的是……", "问错了，应该是……"
_CORRECTION = re.compile(
    r"(?:我)?(?:不是|并不是|没有)(?:想|要)?(?:问|说|咨询)[^，,。；;！!？?]{0,20}[，,。；;！! ]*"
    r"(?:我|而)?(?:是|想|要|就是)(?:想|要)?(?:问|说|咨询|了解)(?:的是|一下)?[\s，,：:]*"
    r"|(?:我|刚才)?(?:问错了|说错了|打错了)[\s，,。：:]*(?:应该是|我是想问|我想问|是问|想问)?(?:的是)?[\s，,：:]*"
)


@dataclass(frozen=True)
class Split:
    """The questions of one message: several parts, or one corrected question."""

    parts: tuple[str, ...]
    corrected: bool = False

    @property
    def changed(self) -> bool:
        """True when the message is not answered as one question as it is."""
        return self.corrected or len(self.parts) > 1


def correction(text: str) -> str | None:
    """What a correction asks instead ("不是问X，是问Y" → Y), or None."""
    matches = list(_CORRECTION.finditer(text))
    if not matches:
        return None
    found = matches[-1]  # the last correction is what is meant
    rest = text[found.end() :].strip(" ，,。：:")
    return rest if count_cjk(rest) >= MIN_PART_CJK else None


def split(text: str) -> Split:
    """The message's questions (see the module docstring)."""
    corrected = correction(text)
    if corrected is not None:
        inner = split(corrected)
        return Split(inner.parts, corrected=True)
    pieces = [p for p in _BOUNDARY.split(text) if p and p.strip()]
    parts: list[str] = []
    for piece in pieces:
        piece = _LEADING.sub("", piece).strip()
        if count_cjk(piece) < MIN_PART_CJK:
            if parts:
                parts[-1] += piece
            else:
                parts.append(piece)
            continue
        parts.append(piece)
    parts = [p for p in parts if p]
    if len(parts) <= 1 or any(count_cjk(p) < MIN_PART_CJK for p in parts):
        return Split((text,))
    if len(parts) > MAX_PARTS:
        parts = [*parts[: MAX_PARTS - 1], "".join(parts[MAX_PARTS - 1 :])]
    return Split(tuple(parts))
