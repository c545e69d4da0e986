"""WeightedLayerPooling, WKPooling, Dropout and LayerNorm: forwards by hand, pipelines saved and loaded."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer, BertModel

from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules.transformer import Transformer
from sentence_transformers.sentence_transformer.modules.dropout import Dropout
from sentence_transformers.sentence_transformer.modules.layer_norm import LayerNorm
from sentence_transformers.sentence_transformer.modules.pooling import Pooling
from sentence_transformers.sentence_transformer.modules.weighted_layer_pooling import WeightedLayerPooling
from sentence_transformers.sentence_transformer.modules.wk_pooling import WKPooling

TEXTS = ["A man is playing a guitar.", "The quick brown fox jumps over the lazy dog and the cat.", "Paris"]
HIDDEN = {"output_hidden_states": True}


def random_layers(count: int, shape: tuple[int, ...] = (2, 3, 4), seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=generator) for _ in range(count)]


def hidden_transformer(folder: Path) -> Transformer:
    return Transformer(str(folder), config_kwargs=dict(HIDDEN))


@pytest.fixture(scope="module")
def varied_bert_dir(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT with larger random weights: its freshly initialized layers barely change the tokens,
    which leaves SBERT-WK's layer-to-layer variation at the level of float32 noise."""
    folder = tmp_path_factory.mktemp("varied-bert")
    model = BertModel.from_pretrained(str(tiny_bert_dir))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.dim() == 2 and not name.startswith("embeddings"):
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    model.save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(str(tiny_bert_dir)).save_pretrained(str(folder))
    return folder


def assert_round_trip(model: SentenceTransformer, path: Path) -> SentenceTransformer:
    """Save, load, and check that the loaded model gives the same embeddings."""
    before = model.encode(TEXTS, convert_to_numpy=True)
    model.save(str(path))
    loaded = SentenceTransformer(str(path), device="cpu")
    np.testing.assert_allclose(loaded.encode(TEXTS, convert_to_numpy=True), before, atol=1e-6, rtol=0)
    return loaded


# ---------------------------------------------------------------- WeightedLayerPooling


def test_weighted_layer_pooling_by_hand():
    layers = random_layers(4)
    module = WeightedLayerPooling(4, num_hidden_layers=3, layer_start=1, layer_weights=[1.0, 2.0, 3.0])
    output = module({"all_layer_embeddings": tuple(layers)})["token_embeddings"]
    torch.testing.assert_close(output, (1 * layers[1] + 2 * layers[2] + 3 * layers[3]) / 6)


def test_weighted_layer_pooling_defaults_and_trainable_weights():
    module = WeightedLayerPooling(embedding_dimension=4, num_hidden_layers=3, layer_start=2)
    assert isinstance(module.layer_weights, torch.nn.Parameter)
    torch.testing.assert_close(module.layer_weights.data, torch.ones(2))
    layers = random_layers(4)
    output = module({"all_layer_embeddings": layers})["token_embeddings"]
    torch.testing.assert_close(output, (layers[2] + layers[3]) / 2)
    output.sum().backward()
    assert module.layer_weights.grad is not None and module.layer_weights.grad.shape == (2,)
    assert module.get_embedding_dimension() == 4
    with pytest.warns(FutureWarning, match="renamed to `get_embedding_dimension`"):
        assert module.get_word_embedding_dimension() == module.get_sentence_embedding_dimension() == 4
    assert WeightedLayerPooling(8).layer_weights.shape == (12 + 1 - 4,)


def test_weighted_layer_pooling_errors():
    with pytest.raises(ValueError, match="output_hidden_states"):
        WeightedLayerPooling(4, num_hidden_layers=3, layer_start=1)({"token_embeddings": torch.zeros(1, 2, 4)})
    with pytest.raises(ValueError, match="expects 4 hidden states.*got 3"):
        WeightedLayerPooling(4, num_hidden_layers=3, layer_start=1)({"all_layer_embeddings": random_layers(3)})
    with pytest.raises(ValueError, match="3 values"):
        WeightedLayerPooling(4, num_hidden_layers=3, layer_start=1, layer_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="layer_start"):
        WeightedLayerPooling(4, num_hidden_layers=3, layer_start=5)
    with pytest.raises(ValueError, match="dimension"):
        WeightedLayerPooling(None)


def test_weighted_layer_pooling_save_load(tmp_path: Path):
    module = WeightedLayerPooling(4, num_hidden_layers=3, layer_start=1, layer_weights=[0.5, 1.5, 4.0])
    module.save(str(tmp_path))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config == {"word_embedding_dimension": 4, "layer_start": 1, "num_hidden_layers": 3}
    assert (tmp_path / "model.safetensors").is_file()
    loaded = WeightedLayerPooling.load(str(tmp_path))
    torch.testing.assert_close(loaded.layer_weights.data, torch.tensor([0.5, 1.5, 4.0]))
    # The newer releases write "embedding_dimension": read that spelling too.
    (tmp_path / "config.json").write_text(
        json.dumps({"embedding_dimension": 4, "layer_start": 1, "num_hidden_layers": 3})
    )
    assert WeightedLayerPooling.load(str(tmp_path)).word_embedding_dimension == 4


def test_weighted_layer_pooling_pipeline(tiny_bert_dir: Path, tmp_path: Path):
    transformer = hidden_transformer(tiny_bert_dir)
    layer_pooling = WeightedLayerPooling(32, num_hidden_layers=2, layer_start=1, layer_weights=[1.0, 3.0])
    model = SentenceTransformer(modules=[transformer, layer_pooling, Pooling(32)], device="cpu")
    embeddings = model.encode(TEXTS, convert_to_tensor=True)

    # The same by hand: the Hugging Face model's hidden states, weighted, then masked mean.
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert_dir))
    hf_model = AutoModel.from_pretrained(str(tiny_bert_dir)).eval()
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = hf_model(**batch, output_hidden_states=True).hidden_states
    tokens = (hidden[1] + 3 * hidden[2]) / 4
    mask = batch["attention_mask"].unsqueeze(-1).float()
    expected = (tokens * mask).sum(1) / mask.sum(1)
    torch.testing.assert_close(embeddings, expected, atol=1e-5, rtol=1e-5)

    loaded = assert_round_trip(model, tmp_path / "wlp")
    torch.testing.assert_close(loaded[1].layer_weights.data, torch.tensor([1.0, 3.0]))
    types = [entry["type"] for entry in json.loads((tmp_path / "wlp" / "modules.json").read_text())]
    assert types[1] == "sentence_transformers.models.WeightedLayerPooling"


def test_weighted_layer_pooling_without_hidden_states_says_how(tiny_bert_dir: Path):
    model = SentenceTransformer(
        modules=[Transformer(str(tiny_bert_dir)), WeightedLayerPooling(32, num_hidden_layers=2, layer_start=1)],
        device="cpu",
    )
    with pytest.raises(ValueError, match="output_hidden_states"):
        model.encode(TEXTS, output_value="token_embeddings")


# ---------------------------------------------------------------- WKPooling


def _expected_single_token() -> torch.Tensor:
    """SBERT-WK of one token whose layers are e1, e1+e2, e2 (window 1), worked out by hand.

    Layer 0 (neighbour: layer 1): novelty 1/sqrt2, alignment cosine 1 -> 1/(1*2*2) = 1/4.
    Layer 1 (neighbours 0 and 2): inside their span -> novelty 0; mean cosine 1/sqrt2 -> 1/((1/sqrt2)*3*2).
    Layer 2 mirrors layer 0. Normalized novelty (1/2, 0, 1/2) and alignment, averaged; the result is
    (1-a, 1-a, 0) with a the weight of layers 0 and 2.
    """
    alignment_middle = math.sqrt(2) / 6
    a = (0.5 + 0.25 / (0.5 + alignment_middle)) / 2
    return torch.tensor([1 - a, 1 - a, 0.0])


def test_wk_pooling_single_token_by_hand():
    own = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])  # layers of token 0
    layers = [torch.zeros(1, 3, 3) for _ in range(3)]
    for index, vector in enumerate(own):
        layers[index][0, 0] = vector
        layers[index][0, 1] = torch.tensor([0.3, -0.2, 0.9]) * (index + 1)  # the closing token: left out
        layers[index][0, 2] = float("nan")  # padding: never read
    features = {"all_layer_embeddings": layers, "attention_mask": torch.tensor([[1, 1, 0]])}
    output = WKPooling(3, layer_start=0, context_window_size=1)(features)["sentence_embedding"]
    torch.testing.assert_close(output, _expected_single_token().unsqueeze(0))


def test_wk_pooling_constant_layers_give_mean_of_tokens_without_last():
    generator = torch.Generator().manual_seed(1)
    tokens = torch.randn(2, 4, 6, generator=generator)
    layers = [tokens.clone() for _ in range(5)]
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    output = WKPooling(6, layer_start=1)({"all_layer_embeddings": layers, "attention_mask": mask})
    expected = torch.stack([tokens[0, :3].mean(0), tokens[1, :2].mean(0)])
    torch.testing.assert_close(output["sentence_embedding"], expected)


def test_wk_pooling_token_without_layer_variation_gets_no_weight():
    varying = random_layers(4, (1, 2, 5), seed=3)  # token 0 varies, token 1 is the closing token
    steady = torch.tensor([1.0, 2.0, -1.0, 0.5, 3.0])
    mixed = [torch.cat([torch.full((1, 1, 5), 0.0) + steady, layer], dim=1) for layer in varying]
    module = WKPooling(5, layer_start=0)
    alone = module({"all_layer_embeddings": varying, "attention_mask": torch.ones(1, 2)})["sentence_embedding"]
    both = module({"all_layer_embeddings": mixed, "attention_mask": torch.ones(1, 3)})["sentence_embedding"]
    torch.testing.assert_close(both, alone)


def test_wk_pooling_errors_and_config(tmp_path: Path):
    with pytest.raises(ValueError, match="output_hidden_states"):
        WKPooling(4)({"token_embeddings": torch.zeros(1, 2, 4), "attention_mask": torch.ones(1, 2)})
    with pytest.raises(ValueError, match="layer_start <= 0"):
        WKPooling(4, layer_start=1)({"all_layer_embeddings": random_layers(3), "attention_mask": torch.ones(2, 3)})
    with pytest.raises(ValueError, match="context_window_size"):
        WKPooling(4, context_window_size=0)
    module = WKPooling(embedding_dimension=16, layer_start=2, context_window_size=3)
    assert module.get_sentence_embedding_dimension() == 16
    module.save(str(tmp_path))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config == {"word_embedding_dimension": 16, "layer_start": 2, "context_window_size": 3}
    assert WKPooling.load(str(tmp_path)).get_config_dict() == config


def test_wk_pooling_pipeline(varied_bert_dir: Path, tmp_path: Path):
    transformer = hidden_transformer(varied_bert_dir)
    model = SentenceTransformer(modules=[transformer, WKPooling(32, layer_start=0)], device="cpu")
    assert model.get_sentence_embedding_dimension() == 32
    embeddings = model.encode(TEXTS, convert_to_numpy=True, batch_size=8)
    assert embeddings.shape == (3, 32) and np.isfinite(embeddings).all()
    np.testing.assert_array_equal(model.encode(TEXTS, convert_to_numpy=True, batch_size=8), embeddings)
    # Padding must not change a text's embedding: alone versus batched with a longer text. The transformer's
    # float noise between padded and unpadded batches (~1e-7, more when BLAS threads are contended) is amplified
    # by SBERT-WK's variance weighting, so the bound is 1e-3; reading padding would move values by O(1).
    for index, text in enumerate(TEXTS):
        alone = model.encode([text], convert_to_numpy=True)[0]
        np.testing.assert_allclose(alone, embeddings[index], atol=1e-3, rtol=0)
    assert not np.allclose(embeddings[0], embeddings[1])
    assert_round_trip(model, tmp_path / "wk")


# ---------------------------------------------------------------- Dropout and LayerNorm


def test_dropout_identity_in_eval_zeroes_in_train():
    embedding = torch.arange(1.0, 2001.0).reshape(2, 1000)
    module = Dropout(0.5)
    module.eval()
    torch.testing.assert_close(module({"sentence_embedding": embedding.clone()})["sentence_embedding"], embedding)
    module.train()
    torch.manual_seed(0)
    output = module({"sentence_embedding": embedding.clone()})["sentence_embedding"]
    zeroed = output == 0
    assert 0.4 < zeroed.float().mean().item() < 0.6
    torch.testing.assert_close(output[~zeroed], embedding[~zeroed] * 2)  # kept values scaled by 1 / (1 - p)
    assert (Dropout(1.0).train()({"sentence_embedding": embedding.clone()})["sentence_embedding"] == 0).all()
    with pytest.raises(ValueError, match="1.5"):
        Dropout(1.5)


def test_dropout_save_load(tmp_path: Path):
    Dropout(0.3).save(str(tmp_path))
    assert json.loads((tmp_path / "config.json").read_text()) == {"dropout": 0.3}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["config.json"]
    assert Dropout.load(str(tmp_path)).dropout == 0.3


def test_layer_norm_matches_functional_and_saves_weights(tmp_path: Path):
    module = LayerNorm(5)
    with torch.no_grad():
        module.norm.weight.copy_(torch.tensor([1.0, 2.0, 0.5, -1.0, 3.0]))
        module.norm.bias.copy_(torch.tensor([0.1, 0.0, -0.2, 0.3, 1.0]))
    embedding = torch.tensor([[1.0, 2.0, 3.0, 4.0, 10.0], [-1.0, 0.0, 1.0, 0.0, -1.0]])
    output = module({"sentence_embedding": embedding})["sentence_embedding"]
    expected = F.layer_norm(embedding, (5,), module.norm.weight, module.norm.bias, eps=1e-5)
    torch.testing.assert_close(output, expected)
    centered = embedding - embedding.mean(1, keepdim=True)
    by_hand = (
        centered / torch.sqrt(centered.pow(2).mean(1, keepdim=True) + 1e-5) * module.norm.weight + module.norm.bias
    )
    torch.testing.assert_close(output, by_hand)
    assert module.get_sentence_embedding_dimension() == 5

    module.save(str(tmp_path))
    assert json.loads((tmp_path / "config.json").read_text()) == {"dimension": 5}
    loaded = LayerNorm.load(str(tmp_path))
    torch.testing.assert_close(loaded({"sentence_embedding": embedding})["sentence_embedding"], output)
    with pytest.raises(ValueError, match="0"):
        LayerNorm(0)


def test_dropout_layer_norm_pipeline(tiny_bert_dir: Path, tmp_path: Path):
    transformer = Transformer(str(tiny_bert_dir))
    layer_norm = LayerNorm(32)
    with torch.no_grad():
        layer_norm.norm.weight.copy_(torch.linspace(0.5, 2.0, 32))
        layer_norm.norm.bias.copy_(torch.linspace(-1.0, 1.0, 32))
    model = SentenceTransformer(modules=[transformer, Pooling(32), Dropout(0.4), layer_norm], device="cpu")
    assert model.get_sentence_embedding_dimension() == 32
    embeddings = model.encode(TEXTS, convert_to_tensor=True)
    mean_only = SentenceTransformer(modules=[transformer, Pooling(32)], device="cpu")
    pooled = mean_only.encode(TEXTS, convert_to_tensor=True)
    expected = F.layer_norm(pooled, (32,), layer_norm.norm.weight.detach(), layer_norm.norm.bias.detach())
    torch.testing.assert_close(embeddings, expected, atol=1e-5, rtol=1e-5)  # dropout is off in encode
    loaded = assert_round_trip(model, tmp_path / "dln")
    types = [entry["type"] for entry in json.loads((tmp_path / "dln" / "modules.json").read_text())]
    assert types[2:] == ["sentence_transformers.models.Dropout", "sentence_transformers.models.LayerNorm"]
    assert loaded[2].dropout == 0.4
