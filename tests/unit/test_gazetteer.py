"""The gazetteer from cpca's table of administrative divisions: Guangxi's places against the rest."""

from __future__ import annotations

import pytest

from knowledge import gazetteer
from knowledge.gazetteer import Gazetteer, short_name


@pytest.fixture(scope="module")
def places(source_text) -> Gazetteer:
    return Gazetteer(reserved_text=source_text)


def test_the_table_has_every_level():
    levels = {p.level for p in gazetteer.places()}
    assert levels == {"province", "city", "county"}
    assert len(gazetteer.places()) > 3000
    assert sum(1 for p in gazetteer.places() if p.in_guangxi) > 100


@pytest.mark.parametrize(
    "name, short",
    [
        ("广西壮族自治区", "广西"),
        ("恩施土家族苗族自治州", "恩施"),
        ("三江侗族自治县", "三江"),
        ("内蒙古自治区", "内蒙古"),
        ("义乌市", "义乌"),
        ("沛县", "沛县"),
        ("新疆维吾尔自治区", "新疆"),
    ],
)
def test_short_names(name, short):
    assert short_name(name) == short


@pytest.mark.parametrize("text", ["南宁", "柳州", "百色", "阳朔", "东兴", "横县", "城中区", "兴宁区", "凭祥", "北海"])
def test_guangxi_places_are_guangxis(places, text):
    [found] = places.find(text)
    assert found.place.in_guangxi, found


@pytest.mark.parametrize(
    "text, name",
    [
        ("昆明", "昆明市"),
        ("义乌", "义乌市"),
        ("湖南", "湖南省"),
        ("宝安区", "宝安区"),
        ("海口", "海口市"),
        ("长沙", "长沙市"),
    ],
)
def test_other_places_are_not(places, text, name):
    [found] = places.find(text)
    assert not found.place.in_guangxi and found.place.name == name


@pytest.mark.parametrize(
    "text",
    [
        "公安局在哪",
        "城区派出所",
        "全区通办",
        "开发区的企业",
        "新建一个金库",
        "和平年代",
        "我在中山路派出所",
        "去香港办签注",
        "台湾通行证",
        "澳门",
    ],
)
def test_everyday_words_streets_the_notices_words_and_sars_are_no_places_elsewhere(places, text):
    assert not [m for m in places.find(text) if not m.place.in_guangxi]


def test_missing_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(gazetteer.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(gazetteer.GazetteerMissing, match="cpca"):
        gazetteer._package_file("cpca", "resources", "adcodes.csv")
