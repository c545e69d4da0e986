"""WordEmbeddings, WordWeights, BoW, CNN and LSTM: forward checked by hand, save/load, and whole pipelines."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch

from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules.bow import BoW
from sentence_transformers.sentence_transformer.modules.cnn import CNN
from sentence_transformers.sentence_transformer.modules.lstm import LSTM
from sentence_transformers.sentence_transformer.modules.pooling import Pooling
from sentence_transformers.sentence_transformer.modules.tokenizer import PhraseTokenizer, WhitespaceTokenizer
from sentence_transformers.sentence_transformer.modules.word_embeddings import WordEmbeddings
from sentence_transformers.sentence_transformer.modules.word_weights import WordWeights

VOCAB = ["PADDING_TOKEN", "cat", "dog", "sat", "mat", "runs"]
WEIGHTS = np.array(
    [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [-1.0, 0.5, 2.0], [0.0, 1.0, -1.0], [2.0, 2.0, 2.0], [0.5, -0.5, 1.5]]
)
GLOVE_LINES = ["cat 1 2 3", "dog -1 0.5 2", "sat 0 1 -1", "mat 2 2 2", "runs 0.5 -0.5 1.5"]
TEXTS = ["The cat sat on the mat.", "dog runs", "Dog, dog... CAT!", "nothing known here"]


def word_embeddings(**kwargs) -> WordEmbeddings:
    return WordEmbeddings(WhitespaceTokenizer(VOCAB), WEIGHTS, **kwargs)


def ids_of(text: str) -> list[int]:
    return WhitespaceTokenizer(VOCAB).tokenize(text)


# --------------------------------------------------------------------------- WordEmbeddings
def test_word_embeddings_tokenize_pads_and_counts():
    features = word_embeddings().tokenize(TEXTS)
    assert features["input_ids"].tolist() == [[1, 3, 4], [2, 5, 0], [2, 2, 1], [0, 0, 0]]
    assert features["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0], [1, 1, 1], [0, 0, 0]]
    assert features["sentence_lengths"].tolist() == [3, 2, 3, 0]
    assert word_embeddings().token_lengths(TEXTS) == [3, 2, 3, 0]
    # nothing known anywhere: still one (padding) column
    assert word_embeddings().tokenize(["zzz"])["input_ids"].tolist() == [[0]]
    truncated = word_embeddings(max_seq_length=2).tokenize(["cat sat mat"])
    assert truncated["input_ids"].tolist() == [[1, 3]]


def test_word_embeddings_forward_looks_up_rows():
    module = word_embeddings()
    features = module(module.tokenize(["cat mat", "runs"]))
    expected = torch.tensor(WEIGHTS[[[1, 4], [5, 0]]], dtype=torch.float32)
    torch.testing.assert_close(features["token_embeddings"], expected)
    assert module.get_word_embedding_dimension() == module.get_embedding_dimension() == 3
    assert not module.emb_layer.weight.requires_grad
    assert word_embeddings(update_embeddings=True).emb_layer.weight.requires_grad


def test_word_embeddings_bad_arguments():
    with pytest.raises(TypeError, match="WordTokenizer"):
        WordEmbeddings("whitespace", WEIGHTS)
    with pytest.raises(ValueError, match="matrix"):
        WordEmbeddings(WhitespaceTokenizer(VOCAB), np.zeros(3))
    with pytest.raises(ValueError, match="max_seq_length"):
        word_embeddings(max_seq_length=0)
    with pytest.raises(TypeError, match="strings"):
        word_embeddings().tokenize([("a", "pair")])
    # lists and tensors are accepted as weights too
    from_list = WordEmbeddings(WhitespaceTokenizer(VOCAB), WEIGHTS.tolist())
    torch.testing.assert_close(from_list.emb_layer.weight, torch.tensor(WEIGHTS, dtype=torch.float32))


@pytest.mark.parametrize("safe_serialization", [True, False])
def test_word_embeddings_save_load(tmp_path, safe_serialization):
    module = word_embeddings(max_seq_length=7)
    module.save(str(tmp_path), safe_serialization=safe_serialization)
    weights_file = "model.safetensors" if safe_serialization else "pytorch_model.bin"
    assert (tmp_path / weights_file).is_file()
    assert (tmp_path / "whitespacetokenizer_config.json").is_file()
    config = json.loads((tmp_path / "wordembedding_config.json").read_text())
    assert config == {
        "tokenizer_class": "sentence_transformers.models.tokenizer.WhitespaceTokenizer.WhitespaceTokenizer",
        "update_embeddings": False,
        "max_seq_length": 7,
    }
    loaded = WordEmbeddings.load(str(tmp_path))
    assert loaded.max_seq_length == 7 and loaded.tokenizer.get_vocab() == VOCAB
    torch.testing.assert_close(loaded.emb_layer.weight, module.emb_layer.weight)


def test_word_embeddings_reads_any_standard_tokenizer_name(tmp_path):
    WordEmbeddings(PhraseTokenizer(VOCAB + ["cat_sat"]), np.vstack([WEIGHTS, np.ones(3)])).save(str(tmp_path))
    config_path = tmp_path / "wordembedding_config.json"
    config = json.loads(config_path.read_text())
    assert config["tokenizer_class"] == "sentence_transformers.models.tokenizer.PhraseTokenizer.PhraseTokenizer"
    config["tokenizer_class"] = "sentence_transformers.sentence_transformer.modules.tokenizer.phrase.PhraseTokenizer"
    config_path.write_text(json.dumps(config))
    loaded = WordEmbeddings.load(str(tmp_path))
    assert isinstance(loaded.tokenizer, PhraseTokenizer)
    assert loaded.tokenize(["cat sat mat"])["input_ids"].tolist() == [[6, 4]]


def test_word_embeddings_outside_tokenizer_needs_trust_remote_code(tmp_path, monkeypatch):
    package = tmp_path / "code"
    package.mkdir()
    (package / "my_word_tokenizer.py").write_text(
        "from sentence_transformers.sentence_transformer.modules.tokenizer import WhitespaceTokenizer\n"
        "class UpperTokenizer(WhitespaceTokenizer):\n"
        "    config_file_name = 'upper_config.json'\n"
        "    def tokenize(self, text, **kwargs):\n"
        "        return super().tokenize(text.lower())\n"
    )
    monkeypatch.syspath_prepend(str(package))
    from my_word_tokenizer import UpperTokenizer

    model_dir = tmp_path / "model"
    WordEmbeddings(UpperTokenizer(VOCAB), WEIGHTS).save(str(model_dir))
    config = json.loads((model_dir / "wordembedding_config.json").read_text())
    assert config["tokenizer_class"] == "my_word_tokenizer.UpperTokenizer"
    with pytest.raises(ValueError, match="trust_remote_code"):
        WordEmbeddings.load(str(model_dir))
    loaded = WordEmbeddings.load(str(model_dir), trust_remote_code=True)
    assert loaded.tokenize(["CAT"])["input_ids"].tolist() == [[1]]
    config["tokenizer_class"] = "sentence_transformers.evil.Tokenizer"
    (model_dir / "wordembedding_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="Unknown tokenizer class"):
        WordEmbeddings.load(str(model_dir))


def test_word_embeddings_with_hugging_face_tokenizer(tiny_bert_dir, tmp_path):
    from transformers import AutoTokenizer

    hf_tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert_dir))
    weights = torch.randn(len(hf_tokenizer), 4, generator=torch.Generator().manual_seed(0))
    module = WordEmbeddings(hf_tokenizer, weights)
    features = module.tokenize(["the quick fox"])
    assert features["input_ids"][0].tolist() == hf_tokenizer("the quick fox")["input_ids"]
    module.save(str(tmp_path))
    config = json.loads((tmp_path / "wordembedding_config.json").read_text())
    assert config["tokenizer_class"].endswith("tokenizer.word.TransformersTokenizerWrapper")
    loaded = WordEmbeddings.load(str(tmp_path))
    torch.testing.assert_close(
        loaded(loaded.tokenize(["the quick fox"]))["token_embeddings"], weights[features["input_ids"]]
    )


def write_glove(path, lines: list[str], header: str | None = None) -> None:
    text = "\n".join(([header] if header else []) + lines) + "\n"
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf8")


@pytest.mark.parametrize("name", ["glove.txt", "glove.txt.gz"])
def test_from_text_file(tmp_path, name):
    path = tmp_path / name
    write_glove(path, GLOVE_LINES)
    module = WordEmbeddings.from_text_file(str(path))
    assert module.tokenizer.get_vocab() == VOCAB
    assert isinstance(module.tokenizer, WhitespaceTokenizer)
    torch.testing.assert_close(module.emb_layer.weight, torch.tensor(WEIGHTS, dtype=torch.float32))
    assert not module.emb_layer.weight.requires_grad


def test_from_text_file_options(tmp_path):
    path = tmp_path / "vectors.txt"
    # a word2vec header, a line with the wrong dimension (skipped), tab-separated items
    write_glove(path, [line.replace(" ", "\t") for line in [GLOVE_LINES[0], "bad 1 2", *GLOVE_LINES[1:]]], "5\t3")
    tokenizer = PhraseTokenizer()
    module = WordEmbeddings.from_text_file(str(path), update_embeddings=True, item_separator="\t", tokenizer=tokenizer)
    assert module.tokenizer is tokenizer and tokenizer.get_vocab() == VOCAB
    assert module.emb_layer.weight.requires_grad
    capped = WordEmbeddings.from_text_file(str(path), item_separator="\t", max_vocab_size=2)
    assert capped.tokenizer.get_vocab() == ["PADDING_TOKEN", "cat", "dog"]


def test_from_text_file_errors(tmp_path):
    missing = tmp_path / "no_such_glove.txt"
    with pytest.raises(FileNotFoundError, match="no_such_glove.txt"):
        WordEmbeddings.from_text_file(str(missing))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="no 'word"):
        WordEmbeddings.from_text_file(str(empty))
    garbled = tmp_path / "garbled.txt"
    garbled.write_text("cat 1 2\ndog x y\n")
    with pytest.raises(ValueError, match="line 2"):
        WordEmbeddings.from_text_file(str(garbled))


# --------------------------------------------------------------------------- WordWeights
def test_word_weights_forward_by_hand():
    vocab = ["pad", "Cat", "dog", "rare"]
    module = WordWeights(vocab, {"pad": 0.0, "cat": 2.0, "dog": 0.5, "unused": 9.0}, unknown_word_weight=3.0)
    # "Cat" finds its weight through its lowercase form; "rare" has none → 3.0
    assert module.emb_layer.weight.squeeze(1).tolist() == [0.0, 2.0, 0.5, 3.0]
    tokens = torch.tensor([[[1.0, 1.0], [2.0, -2.0], [4.0, 0.0]], [[3.0, 3.0], [5.0, 5.0], [7.0, 7.0]]])
    features = {
        "input_ids": torch.tensor([[1, 2, 3], [3, 0, 0]]),
        "attention_mask": torch.tensor([[1, 1, 1], [1, 0, 0]]),
        "token_embeddings": tokens,
    }
    out = module(features)
    expected = torch.tensor([[[2.0, 2.0], [1.0, -1.0], [12.0, 0.0]], [[9.0, 9.0], [0.0, 0.0], [0.0, 0.0]]])
    torch.testing.assert_close(out["token_embeddings"], expected)
    torch.testing.assert_close(out["token_weights_sum"], torch.tensor([2.0 + 0.5 + 3.0, 3.0]))


def test_word_weights_save_load_keeps_trained_weights(tmp_path):
    module = WordWeights(["a", "b"], {"a": 1.5})
    with torch.no_grad():
        module.emb_layer.weight[1, 0] = 4.0  # as if trained
    module.save(str(tmp_path))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config == {"vocab": ["a", "b"], "word_weights": {"a": 1.5}, "unknown_word_weight": 1}
    assert WordWeights.load(str(tmp_path)).emb_layer.weight.squeeze(1).tolist() == [1.5, 4.0]
    (tmp_path / "model.safetensors").unlink()  # a config alone rebuilds the weights from word_weights
    assert WordWeights.load(str(tmp_path)).emb_layer.weight.squeeze(1).tolist() == [1.5, 1.0]
    with pytest.raises(TypeError, match="word_weights"):
        WordWeights(["a"], [1.0])


# --------------------------------------------------------------------------- BoW
def test_bow_term_frequencies_by_hand():
    bow = BoW(["cat", "dog", "the", "cat"], {"cat": 2.0, "Dog": 9.0}, unknown_word_weight=0.5)
    assert bow.vocab == ["cat", "dog", "the"]  # repeated words kept once
    assert bow.get_sentence_embedding_dimension() == bow.get_embedding_dimension() == 3
    # no stop words; "Dog" → "dog" (lowercase fallback); "dog"'s weight is unknown (lookup is word, then lowercase)
    vectors = bow.tokenize(["the cat, the CAT! Dog", "", "fish"])["sentence_embedding"]
    torch.testing.assert_close(vectors, torch.tensor([[4.0, 0.5, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    binary = BoW(["cat", "dog", "the"], {"cat": 2.0}, unknown_word_weight=0.5, cumulative_term_frequency=False)
    torch.testing.assert_close(
        binary.tokenize(["the cat the cat dog"])["sentence_embedding"], torch.tensor([[2.0, 0.5, 0.5]])
    )
    assert bow({"sentence_embedding": vectors})["sentence_embedding"] is vectors


def test_bow_save_load(tmp_path):
    bow = BoW(["a", "b"], {"a": 3.0}, unknown_word_weight=0.25, cumulative_term_frequency=False)
    bow.save(str(tmp_path))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config == {
        "vocab": ["a", "b"],
        "word_weights": {"a": 3.0},
        "unknown_word_weight": 0.25,
        "cumulative_term_frequency": False,
    }
    loaded = BoW.load(str(tmp_path))
    torch.testing.assert_close(loaded.tokenize(["a a b"])["sentence_embedding"], torch.tensor([[3.0, 0.25]]))
    assert BoW(["x"]).word_weights == {}


# --------------------------------------------------------------------------- CNN
def test_cnn_forward_by_hand():
    cnn = CNN(1, out_channels=1, kernel_sizes=[1, 3])
    with torch.no_grad():
        cnn.convs[0].weight.fill_(2.0)
        cnn.convs[0].bias.fill_(0.5)
        cnn.convs[1].weight.copy_(torch.tensor([[[1.0, 10.0, 100.0]]]))
        cnn.convs[1].bias.zero_()
    out = cnn({"token_embeddings": torch.tensor([[[1.0], [2.0], [3.0]]])})["token_embeddings"]
    # kernel 1: 2x + 0.5; kernel 3 (zero padding 1): x[i-1] + 10 x[i] + 100 x[i+1]
    expected = torch.tensor([[[2.5, 210.0], [4.5, 321.0], [6.5, 32.0]]])
    torch.testing.assert_close(out, expected)
    assert cnn.get_word_embedding_dimension() == cnn.get_embedding_dimension() == 2


def test_cnn_arguments_and_save_load(tmp_path):
    assert CNN(in_embedding_dimension=4).in_word_embedding_dimension == 4
    cnn = CNN(in_word_embedding_dimension=4, out_channels=3, kernel_sizes=[3, 5], stride_sizes=[1, 1])
    assert cnn.in_embedding_dimension == 4 and cnn.get_word_embedding_dimension() == 6
    assert [conv.padding for conv in cnn.convs] == [(1,), (2,)]
    cnn.save(str(tmp_path))
    config = json.loads((tmp_path / "cnn_config.json").read_text())
    assert config == {
        "in_word_embedding_dimension": 4,
        "out_channels": 3,
        "kernel_sizes": [3, 5],
        "stride_sizes": [1, 1],
    }
    loaded = CNN.load(str(tmp_path))
    for ours, theirs in zip(cnn.parameters(), loaded.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs)
    # the newer key name (sentence-transformers ≥ 5) loads too, and 2.x configs without strides
    (tmp_path / "cnn_config.json").write_text(
        json.dumps({"in_embedding_dimension": 4, "out_channels": 3, "kernel_sizes": [3, 5]})
    )
    assert CNN.load(str(tmp_path)).stride_sizes == [1, 1]
    with pytest.raises(ValueError, match="stride_sizes"):
        CNN(4, kernel_sizes=[1, 3], stride_sizes=[1])
    with pytest.raises(TypeError, match="in_embedding_dimension"):
        CNN()
    with pytest.raises(ValueError, match="kernel_sizes"):
        CNN(4, kernel_sizes=[])
    (tmp_path / "model.safetensors").unlink()  # a module with weights refuses a folder without them
    with pytest.raises(FileNotFoundError, match="No weights in"):
        CNN.load(str(tmp_path))


# --------------------------------------------------------------------------- LSTM
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def numpy_lstm(lstm: torch.nn.LSTM, inputs: np.ndarray, suffix: str = "") -> np.ndarray:
    """One direction of a one-layer LSTM over ``inputs`` [steps, dim], from the textbook equations."""
    w_ih, w_hh = (getattr(lstm, f"{name}_l0{suffix}").detach().double().numpy() for name in ("weight_ih", "weight_hh"))
    bias = (getattr(lstm, f"bias_ih_l0{suffix}") + getattr(lstm, f"bias_hh_l0{suffix}")).detach().double().numpy()
    hidden = np.zeros(lstm.hidden_size)
    cell = np.zeros(lstm.hidden_size)
    outputs = []
    for x in inputs:
        i, f, g, o = np.split(w_ih @ x + w_hh @ hidden + bias, 4)
        cell = _sigmoid(f) * cell + _sigmoid(i) * np.tanh(g)
        hidden = _sigmoid(o) * np.tanh(cell)
        outputs.append(hidden)
    return np.array(outputs)


def numpy_bilstm(lstm: torch.nn.LSTM, inputs: np.ndarray) -> np.ndarray:
    forward = numpy_lstm(lstm, inputs)
    backward = numpy_lstm(lstm, inputs[::-1], "_reverse")[::-1]
    return np.concatenate([forward, backward], axis=1)


def test_lstm_forward_by_hand_ignores_padding():
    torch.manual_seed(0)
    lstm = LSTM(word_embedding_dimension=3, hidden_dim=2)
    assert lstm.get_word_embedding_dimension() == lstm.get_embedding_dimension() == 4
    tokens = torch.randn(2, 4, 3)
    tokens[1, 2:] = 99.0  # padding: must never be read
    features = {
        "token_embeddings": tokens.clone(),
        "attention_mask": torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]]),
        "sentence_lengths": torch.tensor([4, 2]),
    }
    out = lstm(features)["token_embeddings"]
    assert out.shape == (2, 4, 4)
    np.testing.assert_allclose(
        out[0].detach().numpy(), numpy_bilstm(lstm.encoder, tokens[0].double().numpy()), atol=1e-6
    )
    np.testing.assert_allclose(
        out[1, :2].detach().numpy(), numpy_bilstm(lstm.encoder, tokens[1, :2].double().numpy()), atol=1e-6
    )
    assert out[1, 2:].abs().sum() == 0
    # without sentence_lengths, the attention mask gives the lengths
    del features["sentence_lengths"]
    features["token_embeddings"] = tokens.clone()
    torch.testing.assert_close(lstm(features)["token_embeddings"], out)


def test_lstm_unidirectional_and_save_load(tmp_path):
    torch.manual_seed(1)
    lstm = LSTM(embedding_dimension=3, hidden_dim=2, bidirectional=False)
    assert lstm.word_embedding_dimension == lstm.embedding_dimension == 3
    tokens = torch.randn(1, 3, 3)
    out = lstm({"token_embeddings": tokens, "attention_mask": torch.ones(1, 3)})["token_embeddings"]
    np.testing.assert_allclose(out[0].detach().numpy(), numpy_lstm(lstm.encoder, tokens[0].double().numpy()), atol=1e-6)
    lstm.save(str(tmp_path))
    config = json.loads((tmp_path / "lstm_config.json").read_text())
    assert config == {
        "word_embedding_dimension": 3,
        "hidden_dim": 2,
        "num_layers": 1,
        "dropout": 0,
        "bidirectional": False,
    }
    loaded = LSTM.load(str(tmp_path))
    torch.testing.assert_close(
        loaded({"token_embeddings": tokens, "attention_mask": torch.ones(1, 3)})["token_embeddings"], out
    )
    config["embedding_dimension"] = config.pop("word_embedding_dimension")  # the newer key name
    (tmp_path / "lstm_config.json").write_text(json.dumps(config))
    assert LSTM.load(str(tmp_path)).word_embedding_dimension == 3
    with pytest.raises(TypeError, match="hidden_dim"):
        LSTM(3)


# --------------------------------------------------------------------------- pipelines
def assert_save_load_identical(model: SentenceTransformer, path, texts: list[str]) -> np.ndarray:
    embeddings = model.encode(texts)
    model.save(str(path))
    loaded = SentenceTransformer(str(path), device="cpu")
    np.testing.assert_array_equal(loaded.encode(texts), embeddings)
    return embeddings


def module_types(path) -> list[tuple[str, str]]:
    entries = json.loads((path / "modules.json").read_text())
    return [(entry["path"], entry["type"]) for entry in entries]


def test_pipeline_bow_tfidf(tmp_path):
    vocab = ["cat", "dog", "sat", "mat"]
    idf = {"cat": np.log(4 / 2), "dog": np.log(4 / 1), "sat": np.log(4 / 3)}  # "mat" has none → 1.0
    model = SentenceTransformer(modules=[BoW(vocab, idf)], device="cpu")
    assert model.get_sentence_embedding_dimension() == 4
    texts = ["cat sat on the mat", "dog dog cat", "sat sat sat"]
    embeddings = assert_save_load_identical(model, tmp_path / "bow", texts)
    expected = np.array(
        [
            [np.log(2), 0.0, np.log(4 / 3), 1.0],
            [np.log(2), 2 * np.log(4), 0.0, 0.0],
            [0.0, 0.0, 3 * np.log(4 / 3), 0.0],
        ]
    )
    np.testing.assert_allclose(embeddings, expected, rtol=1e-6)
    assert module_types(tmp_path / "bow") == [("0_BoW", "sentence_transformers.models.BoW")]


def glove_embeddings(tmp_path) -> WordEmbeddings:
    """WordEmbeddings read from a GloVe-style file of GLOVE_LINES (row 0: the zero PADDING_TOKEN)."""
    path = tmp_path / "glove.txt"
    write_glove(path, GLOVE_LINES)
    return WordEmbeddings.from_text_file(str(path))


def test_pipeline_word_weights_mean(tmp_path):
    embeddings_module = glove_embeddings(tmp_path)
    idf = {"cat": 2.0, "dog": 0.5, "sat": 1.5}  # mat, runs → unknown weight 0.25
    weights = WordWeights(embeddings_module.tokenizer.get_vocab(), idf, unknown_word_weight=0.25)
    model = SentenceTransformer(modules=[embeddings_module, weights, Pooling(3, "mean")], device="cpu")
    embeddings = assert_save_load_identical(model, tmp_path / "weights", TEXTS)
    token_weight = {1: 2.0, 2: 0.5, 3: 1.5, 4: 0.25, 5: 0.25}
    for text, embedding in zip(TEXTS, embeddings, strict=True):
        ids = ids_of(text)
        total = sum(token_weight[i] for i in ids)
        expected = sum(token_weight[i] * WEIGHTS[i] for i in ids) / total if ids else np.zeros(3)
        np.testing.assert_allclose(embedding, expected, rtol=1e-6, atol=1e-7)
    assert module_types(tmp_path / "weights") == [
        ("0_WordEmbeddings", "sentence_transformers.models.WordEmbeddings"),
        ("1_WordWeights", "sentence_transformers.models.WordWeights"),
        ("2_Pooling", "sentence_transformers.models.Pooling"),
    ]


def test_pipeline_cnn(tmp_path):
    torch.manual_seed(0)
    cnn = CNN(3, out_channels=2, kernel_sizes=[1, 3])
    model = SentenceTransformer(modules=[glove_embeddings(tmp_path), cnn, Pooling(4, "mean")], device="cpu")
    embeddings = assert_save_load_identical(model, tmp_path / "cnn", TEXTS)
    for text, embedding in zip(TEXTS[:3], embeddings[:3], strict=True):
        # each text on its own: the zero PADDING_TOKEN row pads like the convolution's own zero padding
        x = torch.tensor(WEIGHTS[ids_of(text)], dtype=torch.float32).T.unsqueeze(0)
        convolved = [torch.nn.functional.conv1d(x, c.weight, c.bias, padding=c.padding) for c in cnn.convs]
        expected = torch.cat(convolved, dim=1)[0].T.mean(dim=0)
        np.testing.assert_allclose(embedding, expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(embeddings[3], np.zeros(4))
    assert module_types(tmp_path / "cnn")[1] == ("1_CNN", "sentence_transformers.models.CNN")


def test_pipeline_lstm(tmp_path):
    torch.manual_seed(0)
    lstm = LSTM(3, hidden_dim=2)
    model = SentenceTransformer(modules=[glove_embeddings(tmp_path), lstm, Pooling(4, "mean")], device="cpu")
    embeddings = assert_save_load_identical(model, tmp_path / "lstm", TEXTS)
    for text, embedding in zip(TEXTS[:3], embeddings[:3], strict=True):
        expected = numpy_bilstm(lstm.encoder, WEIGHTS[ids_of(text)]).mean(axis=0)
        np.testing.assert_allclose(embedding, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(embeddings[3], np.zeros(4))
    # one text at a time (no padding) gives the same embeddings as the padded batch
    np.testing.assert_allclose(np.vstack([model.encode([t]) for t in TEXTS]), embeddings, rtol=1e-6, atol=1e-7)
    assert module_types(tmp_path / "lstm")[1] == ("1_LSTM", "sentence_transformers.models.LSTM")


def test_pipeline_from_gz_and_legacy_bin_weights(tmp_path):
    path = tmp_path / "glove.txt.gz"
    write_glove(path, GLOVE_LINES)
    model = SentenceTransformer(modules=[WordEmbeddings.from_text_file(str(path)), Pooling(3, "max")], device="cpu")
    embeddings = model.encode(["cat dog", "mat"])
    np.testing.assert_allclose(embeddings, [np.maximum(WEIGHTS[1], WEIGHTS[2]), WEIGHTS[4]])
    model.save(str(tmp_path / "bin"), safe_serialization=False)
    assert (tmp_path / "bin" / "0_WordEmbeddings" / "pytorch_model.bin").is_file()
    np.testing.assert_array_equal(
        SentenceTransformer(str(tmp_path / "bin"), device="cpu").encode(["cat dog", "mat"]), embeddings
    )
