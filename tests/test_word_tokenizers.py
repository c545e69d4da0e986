"""Word tokenizers: splitting, punctuation, stop words, lowercasing, phrases, save/load in the upstream format."""

from __future__ import annotations

import json

import pytest

from sentence_transformers.sentence_transformer.modules.tokenizer import (
    ENGLISH_STOP_WORDS,
    PhraseTokenizer,
    TransformersTokenizerWrapper,
    WhitespaceTokenizer,
    WordTokenizer,
)
from sentence_transformers.sentence_transformer.modules.tokenizer.phrase import split_words_builtin


def test_english_stop_words_list():
    assert len(ENGLISH_STOP_WORDS) == 386
    assert len(set(ENGLISH_STOP_WORDS)) == 386
    for word in ["the", "a", "and", "yourselves", "couldn", "amoungst", ".", ",", "''", "``", "\\", "~"]:
        assert word in ENGLISH_STOP_WORDS
    assert all(word == word.lower() for word in ENGLISH_STOP_WORDS)
    assert "guitar" not in ENGLISH_STOP_WORDS


def test_whitespace_splits_strips_punctuation_and_drops_unknown():
    tokenizer = WhitespaceTokenizer(["Hello", "world", "foo", "bar", "state-of-the-art"])
    assert isinstance(tokenizer, WordTokenizer)
    # "Hello," → stripped "Hello"; "(world)!" → "world"; "foo-bar" is unknown; inner hyphens are kept
    assert tokenizer.tokenize("Hello, (world)!  foo-bar\tbar\nstate-of-the-art.") == [0, 1, 3, 4]
    assert tokenizer.tokenize("") == []
    assert tokenizer.tokenize("unknown words only") == []


def test_whitespace_lowercase_fallback_and_do_lower_case():
    tokenizer = WhitespaceTokenizer(["hello", "Hello", "world"])
    # the word as written wins; lowercase is only a fallback
    assert tokenizer.tokenize("Hello HELLO World!") == [1, 0, 2]
    lowered = WhitespaceTokenizer(["hello", "Hello", "world"], do_lower_case=True)
    assert lowered.tokenize("Hello HELLO World!") == [0, 0, 2]


def test_whitespace_stop_words():
    vocab = ["the", "cat", "sat", "on", "mat"]
    default = WhitespaceTokenizer(vocab)
    # "the"/"on" are English stop words; "The" is dropped too, through its lowercase form
    assert default.tokenize("The cat sat on the mat.") == [1, 2, 4]
    assert WhitespaceTokenizer(vocab, stop_words=set()).tokenize("The cat sat on the mat.") == [0, 1, 2, 3, 0, 4]
    assert WhitespaceTokenizer(vocab, stop_words=["cat"]).tokenize("the cat") == [0]
    # a stop word is dropped even when a later form would be in the vocab
    assert WhitespaceTokenizer(["cat"], stop_words=["cat,"]).tokenize("cat, cat") == [0]


def test_whitespace_vocab_get_set_and_duplicates():
    tokenizer = WhitespaceTokenizer()
    assert tokenizer.get_vocab() == []
    assert tokenizer.tokenize("anything") == []
    tokenizer.set_vocab(["x", "z", "x"])
    assert tokenizer.get_vocab() == ["x", "z", "x"]
    assert tokenizer.tokenize("x z") == [2, 1]  # a repeated word maps to its last position


def test_whitespace_bad_input():
    with pytest.raises(TypeError, match="string"):
        WhitespaceTokenizer(["a"]).tokenize(["a list"])
    with pytest.raises(TypeError, match="vocab"):
        WhitespaceTokenizer("not a list")
    with pytest.raises(TypeError, match="only strings"):
        WhitespaceTokenizer(["a", 3])


def test_whitespace_save_load(tmp_path):
    tokenizer = WhitespaceTokenizer(["Apple", "pie", "the"], stop_words=["pie", "z"], do_lower_case=True)
    tokenizer.save(str(tmp_path))
    with open(tmp_path / "whitespacetokenizer_config.json") as f:
        config = json.load(f)
    assert config == {"vocab": ["Apple", "pie", "the"], "stop_words": ["pie", "z"], "do_lower_case": True}
    loaded = WhitespaceTokenizer.load(str(tmp_path))
    assert loaded.get_vocab() == tokenizer.get_vocab()
    assert loaded.stop_words == {"pie", "z"}
    assert loaded.do_lower_case is True
    assert loaded.tokenize("THE apple pie") == tokenizer.tokenize("THE apple pie") == [2]


def test_whitespace_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="whitespacetokenizer_config.json"):
        WhitespaceTokenizer.load(str(tmp_path))
    (tmp_path / "whitespacetokenizer_config.json").write_text("{oops")
    with pytest.raises(ValueError, match="Corrupt"):
        WhitespaceTokenizer.load(str(tmp_path))


def test_builtin_word_splitter():
    text = "Good muffins cost $3.88 in New York. Don't state-of-the-art (really)!"
    assert split_words_builtin(text) == [
        "Good", "muffins", "cost", "$", "3.88", "in", "New", "York", ".",
        "Don't", "state-of-the-art", "(", "really", ")", "!",
    ]  # fmt: skip


def test_phrase_merges_longest_phrases_first():
    vocab = ["new_york", "New_York_City", "love", "big", "apple", "PADDING"]
    tokenizer = PhraseTokenizer(vocab)
    assert tokenizer.ngram_lengths == {2, 3}
    assert tokenizer.merge_phrases(["I", "love", "New", "York", "City", "and", "New", "York"]) == [
        "I", "love", "New_York_City", "and", "new_york",
    ]  # fmt: skip
    # "I"/"and" are stop words; the 3-gram wins over the 2-gram; "new_york" matched through lowercase
    assert tokenizer.tokenize("I love New York City and New York") == [2, 1, 0]


def test_phrase_lookup_order_stop_words_and_punctuation():
    tokenizer = PhraseTokenizer(["Big", "apple", "it"], stop_words=["the", "it"])
    # as written, then lowercase, then lowercase stripped of punctuation; stop words drop the token
    assert tokenizer.tokenize("The Big APPLE it") == [0, 1]
    assert PhraseTokenizer(["apple"], stop_words=[]).tokenize("the apple") == [0]


def test_phrase_limits_and_separator():
    vocab = ["a_b", "c__d", "e_f_g", "h-i"]
    tokenizer = PhraseTokenizer(vocab, stop_words=[], max_ngram_length=2)
    assert tokenizer.ngram_lookup == {"a_b"}  # "c__d" is malformed, "e_f_g" too long
    assert tokenizer.tokenize("a b e f g") == [0]
    dashed = PhraseTokenizer(vocab, stop_words=[], ngram_separator="-")
    assert dashed.ngram_lookup == {"h-i"}
    assert dashed.merge_phrases(["x", "h", "i"]) == ["x", "h-i"]
    assert PhraseTokenizer(vocab, stop_words=[], ngram_separator=None).ngram_lookup == set()
    with pytest.raises(ValueError, match="max_ngram_length"):
        PhraseTokenizer(vocab, max_ngram_length=0)
    with pytest.raises(ValueError, match="ngram_separator"):
        PhraseTokenizer(vocab, ngram_separator="")


def test_phrase_save_load(tmp_path):
    tokenizer = PhraseTokenizer(["new-york", "city"], stop_words=["x"], ngram_separator="-", max_ngram_length=3)
    tokenizer.save(str(tmp_path))
    with open(tmp_path / "phrasetokenizer_config.json") as f:
        config = json.load(f)
    assert config == {
        "vocab": ["new-york", "city"],
        "stop_words": ["x"],
        "do_lower_case": False,
        "ngram_separator": "-",
        "max_ngram_length": 3,
    }
    loaded = PhraseTokenizer.load(str(tmp_path))
    assert loaded.tokenize("New York city") == tokenizer.tokenize("New York city") == [0, 1]


def test_transformers_tokenizer_wrapper(tiny_bert_dir, tmp_path):
    from transformers import AutoTokenizer

    hf_tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert_dir))
    wrapper = TransformersTokenizerWrapper(hf_tokenizer)
    ids = wrapper.tokenize("the quick brown fox")
    assert ids == hf_tokenizer("the quick brown fox")["input_ids"]
    assert ids[0] == hf_tokenizer.cls_token_id and ids[-1] == hf_tokenizer.sep_token_id
    vocab = wrapper.get_vocab()
    assert vocab[hf_tokenizer.cls_token_id] == "[CLS]"
    wrapper.save(str(tmp_path))
    assert TransformersTokenizerWrapper.load(str(tmp_path)).tokenize("the quick brown fox") == ids
    with pytest.raises(TypeError, match="PreTrainedTokenizerBase"):
        TransformersTokenizerWrapper("bert")


def test_phrase_tokenizer_uses_nltk_when_installed(monkeypatch):
    import sys
    import types

    calls = []

    def word_tokenize(text, preserve_line=False):
        calls.append((text, preserve_line))
        return ["New", "York", "is", "big", "."]

    monkeypatch.setitem(sys.modules, "nltk", types.SimpleNamespace(word_tokenize=word_tokenize))
    assert PhraseTokenizer(["New_York", "big"]).tokenize("ignored by the fake") == [0, 1]
    assert calls == [("ignored by the fake", True)]
