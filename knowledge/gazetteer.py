"""China's administrative divisions, for telling Guangxi places from the rest of the country.

The names come from the ``cpca`` package's table of administrative codes (provinces,
prefecture-level cities, counties, districts and county-level cities, about 3,500 rows), read
straight from the file the package ships: importing ``cpca`` itself would load pandas, which
nothing here needs. Each place is known by its full name (义乌市, 公安县) and, where that is safe,
by its short name (义乌); a short name that is also an everyday word (公安, 开发, 城区, 和平) is
dropped, judged by jieba's dictionary, and so is any name the notice itself uses.

Guangxi is adcode prefix ``45``. Hong Kong, Macao and Taiwan are left out: they are where
出入境 documents take residents, not places whose own rules a resident could be asking for.
"""

from __future__ import annotations

import csv
import importlib.util
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

GUANGXI_PREFIX = "45"
EXCLUDED_PREFIXES = ("71", "81", "82")  # Taiwan, Hong Kong, Macao
MIN_SHORT = 2
# A county-level short name jieba knows with one of these parts of speech, or more often than
# this, is an everyday word before it is a place (开发 v, 城区 n, 高新 d, 新建 1000, 和平 7998).
_COMMON_POS = frozenset("n v vn vd a an ad ag d s f m t c p r u q b z l i j".split())
_COMMON_FREQ = 600
_SUFFIXES = (
    "特别行政区",
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "自治区",
    "自治州",
    "自治县",
    "自治旗",
    "林区",
    "特区",
    "地区",
    "省",
    "市",
    "县",
    "区",
    "盟",
    "旗",
)
# A name followed by one of these is a street, a building or a company, not the place.
STREET_AFTER = (
    "路",
    "街",
    "大道",
    "巷",
    "广场",
    "公园",
    "桥",
    "小区",
    "花园",
    "大厦",
    "中学",
    "小学",
    "大学",
    "医院",
    "村",
)


class GazetteerMissing(RuntimeError):
    """The ``cpca`` package (its adcodes table) is not installed."""


@dataclass(frozen=True)
class Place:
    """One administrative division."""

    adcode: str
    name: str
    level: str  # province | city | county
    province: str

    @property
    def in_guangxi(self) -> bool:
        """True for the Guangxi Zhuang Autonomous Region and every place in it."""
        return self.adcode.startswith(GUANGXI_PREFIX)


@dataclass(frozen=True)
class PlaceMention:
    """A place named in a text, with where it stands."""

    place: Place
    text: str
    start: int
    end: int


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise GazetteerMissing(f"the {package!r} package is not installed (see requirements.lock)")
    return Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)


def _level(adcode: str) -> str:
    if adcode[2:] == "0" * 10:
        return "province"
    if adcode[4:] == "0" * 8:
        return "city"
    return "county"


@lru_cache(maxsize=1)
def places() -> tuple[Place, ...]:
    """Every division of the table except Hong Kong, Macao and Taiwan.

    Raises:
        GazetteerMissing: cpca is not installed.
    """
    path = _package_file("cpca", "resources", "adcodes.csv")
    with path.open(encoding="utf-8") as handle:
        rows = [(r["adcode"], r["name"].strip()) for r in csv.DictReader(handle) if r.get("name")]
    provinces = {code[:2]: name for code, name in rows if _level(code) == "province"}
    return tuple(
        Place(adcode=code, name=name, level=_level(code), province=provinces.get(code[:2], ""))
        for code, name in rows
        if not code.startswith(EXCLUDED_PREFIXES)
    )


@lru_cache(maxsize=1)
def _nations() -> tuple[str, ...]:
    path = _package_file("cpca", "resources", "56_nations.csv")
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return tuple(sorted(names, key=len, reverse=True))


def short_name(name: str) -> str:
    """The name without its administrative suffix and ethnic designation.

    广西壮族自治区 → 广西, 恩施土家族苗族自治州 → 恩施, 义乌市 → 义乌; the full name when that would
    leave one character.
    """
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            stem = name[: -len(suffix)]
            break
    else:
        return name
    changed = True
    while changed:
        changed = False
        for nation in _nations():
            if stem.endswith(nation) and len(stem) > len(nation):
                stem, changed = stem[: -len(nation)], True
    return stem if len(stem) >= MIN_SHORT else name


def _jieba_tags(words: set[str]) -> dict[str, tuple[int, str]]:
    """The frequency and part of speech jieba's dictionary gives those of ``words`` it has.

    Only these are kept: the whole dictionary as a dict (330,000 words) would hold some 50 MiB
    for as long as the process lives.
    """
    path = _package_file("jieba", "dict.txt")
    tags: dict[str, tuple[int, str]] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) == 3 and MIN_SHORT <= len(parts[0]) <= 4 and parts[0] in words:
                tags[parts[0]] = (int(parts[1]), parts[2])
    return tags


def _everyday_word(word: str, tags: dict[str, tuple[int, str]]) -> bool:
    freq, pos = tags.get(word, (0, "ns"))
    return freq > _COMMON_FREQ or pos in _COMMON_POS


class Gazetteer:
    """Finds places in text.

    Args:
        reserved_text: a text whose words are never read as places outside Guangxi (the notice:
            its 城区 is a kind of area, not 阳泉市城区).
    """

    def __init__(self, reserved_text: str = ""):
        names: dict[str, list[Place]] = {}
        shorts = [(place, short_name(place.name)) for place in places()]
        # a county elsewhere is not found by a short name that is an everyday word (城中, 新华)
        elsewhere = {s for p, s in shorts if s != p.name and p.level == "county" and not p.in_guangxi}
        tags = _jieba_tags(elsewhere)
        for place, short in shorts:
            names.setdefault(place.name, []).append(place)
            everyday = place.level == "county" and not place.in_guangxi and _everyday_word(short, tags)
            if short == place.name or everyday:
                continue
            names.setdefault(short, []).append(place)
        for name in [n for n, found in names.items() if n in reserved_text]:
            names[name] = [p for p in names[name] if p.in_guangxi]
            if not names[name]:
                del names[name]
        self._names = names
        self._pattern = re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)))

    def find(self, text: str) -> list[PlaceMention]:
        """Places named in ``text``, longest name first at each position, left to right.

        A name that is both a Guangxi place and one elsewhere (兴宁, 城中) counts as Guangxi's;
        a name followed by 路/街/小区 … is a street or building and is skipped.
        """
        found = []
        for match in self._pattern.finditer(text or ""):
            if text[match.end() :].startswith(STREET_AFTER):
                continue
            candidates = self._names[match.group(0)]
            place = next((p for p in candidates if p.in_guangxi), None) or _broadest(candidates)
            found.append(PlaceMention(place=place, text=match.group(0), start=match.start(), end=match.end()))
        return found

    def __contains__(self, name: str) -> bool:
        return name in self._names

    def names(self) -> list[str]:
        """Every name a place is found by (full and short)."""
        return list(self._names)


def _broadest(candidates: list[Place]) -> Place:
    order = {"province": 0, "city": 1, "county": 2}
    return min(candidates, key=lambda p: order[p.level])
