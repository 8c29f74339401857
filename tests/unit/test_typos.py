"""TypoCorrector (bot/rasa_ext/nlu/typos.py): one-character typos of terms become the terms.

And words residents meant are left alone. Real jieba, pypinyin and four-corner data throughout.
"""

from __future__ import annotations

import random
import sys
import time

import pytest

from bot.rasa_ext.nlu import typos
from knowledge.lexicon import jieba_userdict_lines, load_aliases, load_terms
from tests.support.paths import ALIASES, LEXICON


@pytest.fixture(scope="module")
def userdict_dir(tmp_path_factory):
    """The user dictionary ``make kb`` writes, generated afresh (var/ may be stale or absent)."""
    directory = tmp_path_factory.mktemp("jieba")
    lines = jieba_userdict_lines(load_terms(LEXICON), load_aliases(ALIASES))
    (directory / typos.USERDICT_NAME).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def confusables():
    return typos.load_confusables()


@pytest.fixture(scope="module")
def index(userdict_dir, confusables):
    """The index as training builds it, round-tripped through JSON as the model stores it."""
    import json

    entries = typos.read_userdict(userdict_dir / typos.USERDICT_NAME)
    terms = [word for word, _, _ in entries if typos.is_cjk_word(word)]
    variants = typos.find_variants(terms, confusables, typos.jieba_dictionary_frequencies())
    data = json.loads(json.dumps(typos.build_index(entries, confusables, variants), ensure_ascii=False))
    result = typos.TypoIndex(data)
    typos.register_dictionary(result.dictionary)
    return result


@pytest.fixture(scope="module")
def correct(index):
    is_known, segment = typos.jieba_predicates(index)
    return lambda text: typos.correct_text(text, index, is_known, segment)


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("居往证", "居住证"),  # 往 looks like 住 (four-corner 20214)
        ("刻张", "刻章"),  # 张 sounds like 章
        ("居住正", "居住证"),
        ("暂住正", "暂住证"),
        ("集体护口", "集体户口"),
        ("落护", "落户"),
        ("身分证", "身份证"),  # a dictionary word, but a variant spelling of the term
        ("居往证怎么办", "居住证怎么办"),
        ("办居住正需要什么材料", "办居住证需要什么材料"),
        ("毕业生落护要啥材料", "毕业生落户要啥材料"),
        ("电子身分证", "电子身份证"),
        ("户口千移", "户口迁移"),
        ("居往证明", "居住证明"),  # the longer term
        ("最多泡一次", "最多跑一次"),
        ("容却受理", "容缺受理"),
        ("罚款能用支付包交吗", "罚款能用支付宝交吗"),
        ("外省户口办港澳通行正", "外省户口办港澳通行证"),
        ("居往证和身分证", "居住证和身份证"),  # two windows, both corrected
        ("办居往证👍", "办居住证👍"),
    ],
)
def test_typos_are_corrected(correct, typed, expected):
    assert correct(typed) == expected
    assert correct(expected) == expected


@pytest.mark.parametrize(
    "text",
    [
        # terms themselves
        "居住证",
        "户口",
        "签证",
        "签注",
        "上牌",
        "年检",
        "身份证",
        # words of jieba's dictionary one character off a term
        "年间",
        "车间",
        "上班",
        "民俗",
        "外界",
        "技巧",
        "虎口",
        "消防车",
        "会议记要",
        # a window that cuts through a word of the segmentation (保护|口罩)
        "保护口罩",
        "戴保护口罩",
        "办居住正要带什么",  # 居住正 would cut 正要: timid, the classifier still sees 居住
        # a term spelt out, with a word of its own beside it (not 户口簿)
        "员工户口不在广西怎么办出国证件",
        # ordinary sentences
        "我想问一下",
        "公司在哪",
        "毕业生落户需要什么",
        "平时要上班",
        "在贵阳办居住证",
        "清朝年间的老房子",
        "车间主任",
        "驾照考式",
    ],
)
def test_words_are_left_alone(correct, text):
    assert correct(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "，。！？……",
        "???",
        "ABC abc 123",
        "https://example.com/?q=1",
        "👍😀🎉",
        "\u200b",
        "居",
        "口",
    ],
)
def test_odd_input_passes_through(correct, text):
    assert correct(text) == text


def test_long_input_is_quick(correct):
    rng = random.Random(20180101)
    noise = "".join(chr(rng.randint(typos.CJK_FIRST, typos.CJK_LAST)) for _ in range(1000))
    typoed = ("我在南宁想办居往证，身分证丢了怎么办？" * 60)[:1000]
    started = time.perf_counter()
    for text in (noise, typoed, "落护" * 500):
        result = correct(text)
        assert len(result) == len(text)
    assert time.perf_counter() - started < 1.0
    assert correct(typoed).startswith("我在南宁想办居住证，身份证丢了怎么办？")


def test_short_message_is_cheap(correct):
    """Tens of microseconds, checked with a margin for slow CI machines."""
    messages = [
        "我老家广东湛江的刚从桂林一个技校毕业想在桂林落户要带啥材料呢",
        "我老家湖南衡阳的在南宁打工办居往证要住满半年不知道怎么办",
    ]
    for text in messages:
        correct(text)
        started = time.perf_counter()
        for _ in range(200):
            correct(text)
        assert (time.perf_counter() - started) / 200 < 0.002


@pytest.mark.parametrize(
    "char, homophone, look_alike, neither",
    [
        ("住", "注", "往", "路"),
        ("章", "张", None, "证"),
        ("驴", "吕", None, "炉"),  # lü is not lu: tones stripped the pypinyin way
        ("份", "分", None, "证"),
    ],
)
def test_confusables(confusables, char, homophone, look_alike, neither):
    assert homophone in confusables.homophones(char)
    if look_alike:
        assert look_alike in confusables.look_alikes(char)
    assert neither not in confusables.similar(char)
    assert char not in confusables.similar(char)


def test_variants_are_rare_long_homophone_spellings(index):
    assert "身分证" in index.variants
    for word in ("消防车", "会议记要", "年间", "上班"):
        assert word not in index.variants


def _plain(entries, confusables):
    """An index of the given words, with no dictionary words and one character per token."""
    index = typos.TypoIndex(typos.build_index([(w, 2000, "nz") for w in entries], confusables))
    return lambda text: typos.correct_text(text, index, lambda word: False, list)


@pytest.mark.parametrize(
    "terms, typed, expected",
    [
        (["刻章", "刻张"], "刻彰", "刻彰"),  # fits both terms: no guess
        (["户口", "口罩工厂"], "护口罩工场", "护口罩工厂"),  # overlapping windows: the longer term
        (["户口", "落户"], "落护护口", "落户户口"),  # one change per window, left to right
    ],
)
def test_choice_between_matches(confusables, terms, typed, expected):
    assert _plain(terms, confusables)(typed) == expected


def test_index_skips_words_that_are_not_chinese(index):
    assert "12389" not in index.terms and "110" not in index.terms
    assert all(typos.is_cjk_word(term) for term in index.terms)
    assert "居住证" in index.terms


def test_read_userdict_rejects_garbage(tmp_path):
    path = tmp_path / "userdict.txt"
    path.write_text("居住证 2500 nz\n\n户口\n  \n", encoding="utf-8")
    assert typos.read_userdict(path) == [("居住证", 2500, "nz"), ("户口", None, None)]
    path.write_text("居住证 2500 NZ\n", encoding="utf-8")
    assert typos.read_userdict(path) == [("居住证 2500 NZ", None, None)]  # as jieba reads it


def test_index_of_another_version_is_refused(index):
    with pytest.raises(ValueError, match="version"):
        typos.TypoIndex(
            {"version": typos.INDEX_VERSION + 1, "terms": [], "similar": {}, "variants": [], "dictionary": []}
        )


# --- as a Rasa graph component ---------------------------------------------------------------


@pytest.fixture()
def storage(tmp_path):
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource

    model_storage = LocalModelStorage.create(tmp_path / "model")
    (tmp_path / "model").mkdir()
    return model_storage, Resource("train_TypoCorrector0"), ExecutionContext(GraphSchema({}), "test")


def test_trained_component_loads_from_model_storage_alone(storage, userdict_dir, tmp_path, monkeypatch):
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.rasa_ext.nlu.typos import TypoCorrector

    model_storage, resource, context = storage
    trainer = TypoCorrector.create({"dictionary_path": str(userdict_dir)}, model_storage, resource, context)
    assert trainer.train(TrainingData()) == resource
    assert (tmp_path / "model" / resource.name / typos.INDEX_FILE_NAME).is_file()

    # A production pod: no var/, and the training-only packages cannot be imported.
    monkeypatch.setitem(sys.modules, "pypinyin", None)
    monkeypatch.setitem(sys.modules, "four_corner_method", None)
    loaded = TypoCorrector.load({"dictionary_path": str(tmp_path / "absent")}, model_storage, resource, context)
    message = Message(data={"text": "居往证怎么办"})
    assert loaded.process([message]) == [message]
    assert message.get("text") == "居住证怎么办"

    untouched = Message(data={"text": "公司在哪"})
    loaded.process([untouched])
    assert untouched.get("text") == "公司在哪"


def test_training_examples_are_corrected(storage, userdict_dir):
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.rasa_ext.nlu.typos import TypoCorrector

    model_storage, resource, context = storage
    config = {"dictionary_path": str(userdict_dir)}
    TypoCorrector.create(config, model_storage, resource, context).train(TrainingData())
    component = TypoCorrector.load(config, model_storage, resource, context)
    data = TrainingData(
        [
            Message(data={"text": "刻张要几天", "intent": "seal"}),
            Message(data={"text": "上班时间", "intent": "hours"}),
            Message(data={"intent": "no_text"}),
        ]
    )
    component.process_training_data(data)
    assert [m.get("text") for m in data.training_examples] == ["刻章要几天", "上班时间", None]


def test_untrained_component_passes_messages_through(storage):
    from rasa.shared.nlu.training_data.message import Message

    from bot.rasa_ext.nlu.typos import TypoCorrector

    model_storage, resource, context = storage
    with pytest.warns(UserWarning, match="no usable index"):
        component = TypoCorrector.load({}, model_storage, resource, context)
    message = Message(data={"text": "居往证怎么办"})
    component.process([message])
    assert message.get("text") == "居往证怎么办"


def test_training_without_dictionary_fails_clearly(storage, tmp_path):
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.rasa_ext.nlu.typos import TypoCorrector

    model_storage, resource, context = storage
    component = TypoCorrector.create({"dictionary_path": str(tmp_path / "none")}, model_storage, resource, context)
    with pytest.raises(ValueError, match="make kb"):
        component.train(TrainingData())


@pytest.mark.parametrize(
    "config",
    [
        {"dictionary_path": ""},
        {"dictionary_path": None},
        {"variant_frequency_ratio": -1},
        {"variant_frequency_ratio": "10"},
        {"variant_frequency_ratio": True},
    ],
)
def test_bad_config_is_rejected(storage, config):
    from bot.rasa_ext.nlu.typos import TypoCorrector

    model_storage, resource, context = storage
    with pytest.raises(ValueError, match="TypoCorrector"):
        TypoCorrector.create(config, model_storage, resource, context)


def test_cache_fingerprint_follows_the_dictionary(tmp_path, userdict_dir):
    """Rasa's training cache must not reuse an index built from another user dictionary."""
    from bot.rasa_ext.nlu.typos import TypoCorrector

    copy = tmp_path / "jieba"
    copy.mkdir()
    text = (userdict_dir / typos.USERDICT_NAME).read_text(encoding="utf-8")
    (copy / typos.USERDICT_NAME).write_text(text, encoding="utf-8")
    before = TypoCorrector.fingerprint_addon({"dictionary_path": str(copy)})
    assert before == TypoCorrector.fingerprint_addon({"dictionary_path": str(userdict_dir)})
    (copy / typos.USERDICT_NAME).write_text(text + "落户口 2000 nz\n", encoding="utf-8")
    assert TypoCorrector.fingerprint_addon({"dictionary_path": str(copy)}) != before
