"""PEFT adapters on SentenceTransformer (PeftAdapterMixin) and model merging (merge_models)."""

from __future__ import annotations

import copy
import json
import math
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import build_tiny_bert
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.merging import merge_models

peft = pytest.importorskip("peft")

TEXTS = ["A man is playing a guitar.", "The quick brown fox jumps over the lazy dog."]


def lora(**kwargs) -> peft.LoraConfig:
    return peft.LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"], **kwargs)


def randomize_lora(model: SentenceTransformer, adapter: str = "default", seed: int = 0) -> None:
    """Give the adapter's B matrices (zero at init, so the adapter starts as a no-op) random values."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if f"lora_B.{adapter}." in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)


def encode(model: SentenceTransformer) -> np.ndarray:
    return model.encode(TEXTS, convert_to_numpy=True)


# ------------------------------------------------------------------ PEFT adapters
def test_add_adapter_trains_only_adapter_and_changes_output(tiny_model):
    base = encode(tiny_model)
    tiny_model.add_adapter(lora())
    trainable = {name for name, parameter in tiny_model.named_parameters() if parameter.requires_grad}
    assert len(trainable) == 8  # lora_A + lora_B, query + value, 2 layers
    assert all(".lora_A.default." in name or ".lora_B.default." in name for name in trainable)
    np.testing.assert_allclose(encode(tiny_model), base, atol=1e-6)  # B = 0: the fresh adapter is a no-op

    randomize_lora(tiny_model)
    adapted = encode(tiny_model)
    assert np.abs(adapted - base).max() > 1e-3
    assert tiny_model.active_adapters() == ["default"]
    assert tiny_model.active_adapter() == "default"


def test_disable_and_enable_adapters_toggle_output(tiny_model):
    base = encode(tiny_model)
    tiny_model.add_adapter(lora())
    randomize_lora(tiny_model)
    adapted = encode(tiny_model)

    tiny_model.disable_adapters()
    np.testing.assert_allclose(encode(tiny_model), base, atol=1e-6)
    tiny_model.enable_adapters()
    np.testing.assert_allclose(encode(tiny_model), adapted, atol=1e-6)


def test_set_adapter_switches_between_adapters(tiny_model):
    tiny_model.add_adapter(lora(), adapter_name="first")
    randomize_lora(tiny_model, "first", seed=1)
    first = encode(tiny_model)
    tiny_model.add_adapter(lora(), adapter_name="second")  # adding makes it active
    randomize_lora(tiny_model, "second", seed=2)
    assert tiny_model.active_adapters() == ["second"]
    second = encode(tiny_model)
    assert np.abs(first - second).max() > 1e-3

    tiny_model.set_adapter("first")
    assert tiny_model.active_adapters() == ["first"]
    np.testing.assert_allclose(encode(tiny_model), first, atol=1e-6)
    tiny_model.set_adapter("second")
    np.testing.assert_allclose(encode(tiny_model), second, atol=1e-6)

    with pytest.raises(ValueError, match="not found"):
        tiny_model.set_adapter("third")
    with pytest.raises(ValueError, match="already exists"):
        tiny_model.add_adapter(lora(), adapter_name="first")


def test_get_adapter_state_dict_holds_only_the_adapter(tiny_model):
    tiny_model.add_adapter(lora(), adapter_name="first")
    tiny_model.add_adapter(lora(), adapter_name="second")
    expected = {
        f"encoder.layer.{layer}.attention.self.{target}.lora_{part}.weight"
        for layer in range(2)
        for target in ("query", "value")
        for part in ("A", "B")
    }
    assert set(tiny_model.get_adapter_state_dict()) == expected  # the active one, adapter name dropped
    state = tiny_model.get_adapter_state_dict("first")
    assert set(state) == expected
    assert state["encoder.layer.0.attention.self.query.lora_A.weight"].shape == (4, 32)


def test_save_and_load_round_trip(tiny_model, tmp_path):
    tiny_model.add_adapter(lora())
    randomize_lora(tiny_model)
    adapted = encode(tiny_model)
    tiny_model.save(str(tmp_path / "adapted"))

    folder = tmp_path / "adapted"
    assert (folder / "adapter_config.json").is_file() and (folder / "adapter_model.safetensors").is_file()
    assert not (folder / "model.safetensors").exists()  # PEFT format: only the adapter, as transformers saves it
    keys = set(load_file(folder / "adapter_model.safetensors"))
    assert len(keys) == 8 and all(key.startswith("base_model.model.encoder.layer.") for key in keys)
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 4

    loaded = SentenceTransformer(str(folder), device="cpu")
    assert loaded.active_adapters() == ["default"]
    np.testing.assert_allclose(encode(loaded), adapted, atol=1e-6)
    loaded.disable_adapters()
    tiny_model.disable_adapters()
    np.testing.assert_allclose(encode(loaded), encode(tiny_model), atol=1e-6)


def test_load_adapter_onto_a_base_model(tiny_model, tiny_bert_dir, tmp_path):
    tiny_model.add_adapter(lora())
    randomize_lora(tiny_model)
    adapted = encode(tiny_model)
    tiny_model.save(str(tmp_path / "adapted"), safe_serialization=False)
    assert (tmp_path / "adapted" / "adapter_model.bin").is_file()

    fresh = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    fresh.load_adapter(str(tmp_path / "adapted"), adapter_name="loaded")
    assert fresh.active_adapters() == ["loaded"]
    np.testing.assert_allclose(encode(fresh), adapted, atol=1e-6)


def test_delete_adapter(tiny_model):
    base = encode(tiny_model)
    tiny_model.add_adapter(lora())
    randomize_lora(tiny_model)
    tiny_model.delete_adapter("default")
    np.testing.assert_allclose(encode(tiny_model), base, atol=1e-6)
    with pytest.raises(ValueError, match="No adapter loaded"):
        tiny_model.active_adapters()


def test_missing_peft_gives_install_hint(tiny_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "peft", None)  # makes `import peft` raise ImportError
    with pytest.raises(ImportError, match=r'pip install "sbert\[peft\]"'):
        tiny_model.add_adapter(lora())
    with pytest.raises(ImportError, match=r"sbert\[peft\]"):
        tiny_model.active_adapters()


def test_non_transformer_first_module_is_rejected():
    from sentence_transformers.base.modules.dense import Dense

    model = SentenceTransformer(modules=[Dense(4, 2)], device="cpu")
    assert not model.has_peft_compatible_model()
    with pytest.raises(ValueError, match="first module is a Transformer"):
        model.add_adapter(lora())


# ------------------------------------------------------------------ merging
@pytest.fixture(scope="module")
def second_bert_dir(tmp_path_factory):
    """A tiny BERT with the same architecture and vocabulary as ``tiny_bert_dir``, other weights."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert-2"), seed=1)


def params(model: SentenceTransformer) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def test_linear_merge_averages_weights(tiny_bert_dir, second_bert_dir):
    a = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    b = SentenceTransformer(str(second_bert_dir), device="cpu")
    a_before, b_before = params(a), params(b)
    merged = merge_models(SentenceTransformer, [a, b])

    state = merged.state_dict()
    assert state.keys() == a_before.keys()
    for name, tensor in state.items():
        if tensor.is_floating_point():
            torch.testing.assert_close(tensor, (a_before[name] + b_before[name]) / 2, rtol=0, atol=1e-7)
        else:
            assert torch.equal(tensor, a_before[name])
    assert (
        a_before["0.model.embeddings.word_embeddings.weight"]
        .ne(b_before["0.model.embeddings.word_embeddings.weight"])
        .any()
    )
    for name, tensor in a.state_dict().items():  # the inputs are left unchanged
        assert torch.equal(tensor, a_before[name])
    assert not merged.training
    embeddings = merged.encode(TEXTS)
    assert embeddings.shape == (2, 32) and np.isfinite(embeddings).all()
    assert np.abs(embeddings - a.encode(TEXTS)).max() > 1e-4


def test_weighted_linear_and_unnormalized(tiny_bert_dir, second_bert_dir):
    a = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    b = SentenceTransformer(str(second_bert_dir), device="cpu")
    name = "0.model.encoder.layer.0.attention.self.query.weight"
    wa, wb = a.state_dict()[name], b.state_dict()[name]

    weighted = merge_models(SentenceTransformer, [a, b], parameters={"weight": [3.0, 1.0]})
    torch.testing.assert_close(weighted.state_dict()[name], (3 * wa + wb) / 4, rtol=0, atol=1e-6)
    summed = merge_models(SentenceTransformer, [a, b], parameters={"weight": {0: 3.0, 1: 1.0}, "normalize": False})
    torch.testing.assert_close(summed.state_dict()[name], 3 * wa + wb, rtol=0, atol=1e-6)


def test_merge_from_paths_and_out_dtype(tiny_bert_dir, second_bert_dir):
    merged = merge_models(SentenceTransformer, [str(tiny_bert_dir), str(second_bert_dir)], out_dtype="float16")
    assert merged.state_dict()["0.model.pooler.dense.weight"].dtype == torch.float16
    a = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    b = SentenceTransformer(str(second_bert_dir), device="cpu")
    expected = (
        (a.state_dict()["0.model.pooler.dense.weight"] + b.state_dict()["0.model.pooler.dense.weight"]) / 2
    ).half()
    assert torch.equal(merged.state_dict()["0.model.pooler.dense.weight"], expected)


def test_task_arithmetic_and_ties_by_hand(tiny_bert_dir, second_bert_dir):
    base = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    b = SentenceTransformer(str(second_bert_dir), device="cpu")
    c = copy.deepcopy(base)
    name = "0.model.encoder.layer.1.output.dense.weight"
    with torch.no_grad():
        c.state_dict()[name].add_(torch.randn(c.state_dict()[name].shape, generator=torch.Generator().manual_seed(3)))
    t0, t1, t2 = (model.state_dict()[name].clone() for model in (base, b, c))
    d1, d2 = t1 - t0, t2 - t0

    arithmetic = merge_models(
        SentenceTransformer,
        [b, c],
        "task_arithmetic",
        base_model=base,
        parameters={"weight": [0.5, 2.0], "lambda": 0.8},
    )
    torch.testing.assert_close(arithmetic.state_dict()[name], t0 + 0.8 * (0.5 * d1 + 2.0 * d2), rtol=0, atol=1e-5)

    ties = merge_models(SentenceTransformer, [b, c], "ties", base_model=base, parameters={"weight": [1.0, 1.0]})
    majority = torch.where(d1 + d2 >= 0, 1.0, -1.0)
    keep1, keep2 = (d1.sign() == majority).float(), (d2.sign() == majority).float()
    count = (keep1 + keep2).clamp_min(1)
    torch.testing.assert_close(ties.state_dict()[name], t0 + (d1 * keep1 + d2 * keep2) / count, rtol=0, atol=1e-5)

    # density 0.25 keeps the quarter of each task vector with the largest magnitudes
    trimmed = merge_models(SentenceTransformer, [b, base], "ties", base_model=base, parameters={"density": 0.25})
    delta = trimmed.state_dict()[name] - t0
    kept = delta.ne(0)
    assert kept.sum().item() == int(0.25 * d1.numel())
    assert d1.abs()[kept].min() >= d1.abs()[~kept].max()
    torch.testing.assert_close(delta[kept], d1[kept], rtol=0, atol=1e-6)
    trimmed.encode(TEXTS)


def test_slerp(tiny_bert_dir, second_bert_dir):
    a = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    b = SentenceTransformer(str(second_bert_dir), device="cpu")
    name = "0.model.encoder.layer.0.intermediate.dense.weight"
    va, vb = a.state_dict()[name], b.state_dict()[name]

    start = merge_models(SentenceTransformer, [a, b], "slerp", parameters={"t": 0.0})
    torch.testing.assert_close(start.state_dict()[name], va, rtol=0, atol=1e-6)
    end = merge_models(SentenceTransformer, [a, b], "slerp", parameters={"t": 1.0})
    torch.testing.assert_close(end.state_dict()[name], vb, rtol=0, atol=1e-6)

    middle = merge_models(SentenceTransformer, [a, b], "slerp")  # t = 0.5
    cos = float((va.flatten() / va.norm()) @ (vb.flatten() / vb.norm()))
    theta = math.acos(cos)
    expected = (math.sin(theta / 2) * va + math.sin(theta / 2) * vb) / math.sin(theta)
    torch.testing.assert_close(middle.state_dict()[name], expected, rtol=0, atol=1e-5)


def test_merge_errors(tiny_bert_dir, second_bert_dir, tmp_path):
    a = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    b = SentenceTransformer(str(second_bert_dir), device="cpu")
    with pytest.raises(ValueError, match="At least two"):
        merge_models(SentenceTransformer, [a])
    with pytest.raises(ValueError, match="Unknown merge method"):
        merge_models(SentenceTransformer, [a, b], "frankenmerge")
    with pytest.raises(ValueError, match="needs a base_model"):
        merge_models(SentenceTransformer, [a, b], "ties")
    with pytest.raises(ValueError, match="does not use a base_model"):
        merge_models(SentenceTransformer, [a, b], base_model=a)
    with pytest.raises(ValueError, match="needs 2 values"):
        merge_models(SentenceTransformer, [a, b], parameters={"weight": [1.0]})
    with pytest.raises(ValueError, match="Unknown parameter"):
        merge_models(SentenceTransformer, [a, b], parameters={"density": 0.5})
    with pytest.raises(TypeError, match="SentenceTransformer instance"):
        merge_models(SentenceTransformer, [a, torch.nn.Linear(2, 2)])

    wider = SentenceTransformer(str(build_tiny_bert(tmp_path / "wide", hidden_size=16)), device="cpu")
    with pytest.raises(ValueError, match="different"):
        merge_models(SentenceTransformer, [a, wider])

    b.add_adapter(lora())
    with pytest.raises(ValueError, match="PEFT adapters"):
        merge_models(SentenceTransformer, [a, b])
