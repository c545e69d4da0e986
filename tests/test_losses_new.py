"""EmbedDistillLoss, GlobalOrthogonalRegularizationLoss, merged multi-column forwards and the base.losses helpers.

Loss values are checked on stub embeddings (a model whose weight starts as the identity, so the embeddings are the
given vectors) against the formulas written out in numpy; training tests run a few optimizer steps on the tiny BERT.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer
from torch import nn

from sentence_transformers import SentenceTransformer
from sentence_transformers.base.losses import (
    CachedLossMixin,
    RandContext,
    column_merging_disabled,
    has_static_embedding_input,
    uses_gradient_cache,
)
from sentence_transformers.base.losses.merged_forward import (
    cat_padded_token_embeddings,
    chunked_padded_forward,
    embed_columns,
    embed_columns_padded,
    merge_feature_batches,
)
from sentence_transformers.sentence_transformer import losses
from sentence_transformers.sentence_transformer.losses import _loss_utils
from sentence_transformers.sentence_transformer.losses.adaptive_layer import ForwardDecorator as LayerForwardDecorator
from sentence_transformers.sentence_transformer.losses.adaptive_layer import TransformerDecorator
from sentence_transformers.sentence_transformer.losses.embed_distill import EmbedDistillLoss
from sentence_transformers.sentence_transformer.losses.global_orthogonal_regularization import (
    GlobalOrthogonalRegularizationLoss,
)
from sentence_transformers.sentence_transformer.losses.matryoshka import CachedLossDecorator, ForwardDecorator
from sentence_transformers.sentence_transformer.modules import StaticEmbedding
from sentence_transformers.util.similarity import dot_score

TEXTS = ["a cat sleeps", "a man plays a guitar on the street", "two women", "the capital of france is paris"]
POSITIVES = ["a sleeping cat", "guitar music", "women talking at a table", "paris"]
NEGATIVES = ["the quick brown fox jumps over the lazy dog", "a table", "sunny afternoon", "search results ranking"]


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models gain nothing from threads, and two threads on a busy 2-core machine are much slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class StubModel(nn.Module):
    """Embeds ``features["emb"]`` as ``emb @ weight``; the weight starts as the identity."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.eye(dim, dtype=torch.float64))
        self.calls = 0

    def forward(self, features, **kwargs):
        self.calls += 1
        return {**features, "sentence_embedding": features["emb"] @ self.weight}

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def get_sentence_embedding_dimension(self) -> int:
        return self.weight.shape[0]


class CountingModel(nn.Module):
    """Wraps a model and counts its forward passes (and the rows each saw)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.inner = model
        self.rows: list[int] = []

    def forward(self, features, **kwargs):
        self.rows.append(features["input_ids"].shape[0])
        return self.inner(features, **kwargs)


def columns(*arrays):
    return [{"emb": torch.tensor(np.asarray(a, dtype=np.float64))} for a in arrays]


def falls(values):
    return values[-1] < values[0] and min(values[-2:]) < 0.9 * values[0]


def train_losses(loss, model, text_columns, labels=None, steps=6, lr=5e-3):
    """Loss values over a few AdamW steps on one fixed tokenized batch (dict losses are summed)."""
    torch.manual_seed(0)
    features = [model.tokenize(texts) for texts in text_columns]
    model.train()
    optimizer = torch.optim.AdamW(loss.parameters(), lr=lr)
    values = []
    for _ in range(steps):
        value = loss([dict(f) for f in features], labels)
        if isinstance(value, dict):
            value = sum(value.values())
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        values.append(value.item())
    return values


# ------------------------------------------------------------------------------------------- EmbedDistillLoss
STUDENT_A = [[3.0, 4.0], [1.0, 0.0]]
STUDENT_B = [[0.0, 2.0], [1.0, 1.0]]
TEACHER_A = [[4.0, 3.0], [0.0, 2.0]]
TEACHER_B = [[0.0, 1.0], [2.0, 0.0]]


def test_embed_distill_cosine_distance_by_hand():
    # cos([3,4],[4,3]) = 24/25, cos([1,0],[0,2]) = 0 -> column A: mean(1/25, 1) = 0.52
    # cos([0,2],[0,1]) = 1, cos([1,1],[2,0]) = 1/sqrt(2) -> column B: mean(0, 1 - 1/sqrt(2))
    loss = EmbedDistillLoss(StubModel(2))
    labels = torch.tensor([TEACHER_A, TEACHER_B], dtype=torch.float64).transpose(0, 1)  # (batch, columns, dim)
    value = loss(columns(STUDENT_A, STUDENT_B), labels)
    column_a = (1 / 25 + 1) / 2
    column_b = (0 + 1 - 1 / math.sqrt(2)) / 2
    assert value.item() == pytest.approx((column_a + column_b) / 2, abs=1e-12)


def test_embed_distill_l2_and_mse_by_hand():
    labels = torch.tensor([TEACHER_A, TEACHER_B], dtype=torch.float64).transpose(0, 1)
    # differences: A: [-1, 1], [1, -2]; B: [0, 1], [-1, 1]
    l2 = EmbedDistillLoss(StubModel(2), distance_metric="l2")(columns(STUDENT_A, STUDENT_B), labels)
    expected_l2 = ((math.sqrt(2) + math.sqrt(5)) / 2 + (1 + math.sqrt(2)) / 2) / 2
    assert l2.item() == pytest.approx(expected_l2, abs=1e-12)
    mse = EmbedDistillLoss(StubModel(2), distance_metric="mse")(columns(STUDENT_A, STUDENT_B), labels)
    expected_mse = ((1 + 1 + 1 + 4) / 4 + (0 + 1 + 1 + 1) / 4) / 2
    assert mse.item() == pytest.approx(expected_mse, abs=1e-12)


def test_embed_distill_2d_labels_are_shared_by_every_column():
    teacher = torch.tensor(TEACHER_A, dtype=torch.float64)
    loss = EmbedDistillLoss(StubModel(2), distance_metric="mse")
    value = loss(columns(STUDENT_A, STUDENT_B), teacher)
    # column A vs TEACHER_A: (1 + 1 + 1 + 4) / 4; column B vs TEACHER_A: diffs [-4, -1], [1, -1] -> (16+1+1+1) / 4
    assert value.item() == pytest.approx((7 / 4 + 19 / 4) / 2, abs=1e-12)


def test_embed_distill_projection_maps_to_the_teacher_size(tmp_path: Path):
    loss = EmbedDistillLoss(StubModel(2), distance_metric="l2", projection_dim=3)
    assert loss.projection.in_features == 2 and loss.projection.out_features == 3
    with torch.no_grad():
        loss.projection.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        loss.projection.bias.copy_(torch.tensor([0.0, 0.0, 1.0]))
    loss.projection.double()
    teacher = torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    # projected students: [3, 4, 8] and [1, 0, 2]; distances 8 and sqrt(5)
    value = loss(columns(STUDENT_A), teacher)
    assert value.item() == pytest.approx((8 + math.sqrt(5)) / 2, abs=1e-12)
    assert loss.get_config_dict() == {"distance_metric": "l2", "projection_dim": 3}

    path = tmp_path / "projection.safetensors"
    loss.save_projection(path)
    fresh = EmbedDistillLoss(StubModel(2), distance_metric="l2")
    fresh.load_projection(path)
    assert fresh.projection_dim == 3
    torch.testing.assert_close(fresh.projection.weight, loss.projection.weight, check_dtype=False)
    torch.testing.assert_close(fresh.projection.bias, loss.projection.bias, check_dtype=False)
    with pytest.raises(ValueError, match="maps"):
        EmbedDistillLoss(StubModel(2), projection_dim=4).load_projection(path)
    with pytest.raises(ValueError, match="-dim"):
        EmbedDistillLoss(StubModel(3)).load_projection(path)
    with pytest.raises(ValueError, match="no projection"):
        EmbedDistillLoss(StubModel(2)).save_projection(path)


def test_embed_distill_validates_labels_and_options():
    model = StubModel(2)
    loss = EmbedDistillLoss(model)
    with pytest.raises(ValueError, match="teacher embeddings"):
        loss(columns(STUDENT_A), None)
    assert model.calls == 0  # labels are checked before the model runs
    with pytest.raises(ValueError, match="2-D"):
        loss(columns(STUDENT_A), torch.zeros(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="3 teacher column"):
        loss(columns(STUDENT_A, STUDENT_B), torch.zeros(2, 3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="distance_metric"):
        EmbedDistillLoss(model, distance_metric="dot")
    assert loss.get_config_dict() == {"distance_metric": "cosine", "projection_dim": None}
    assert "2301.12005" in loss.citation and "kim2023embeddistill" in loss.citation


def test_embed_distill_loss_trains(tiny_model):
    teacher = torch.randn(len(TEXTS), 2, 32, generator=torch.Generator().manual_seed(0))
    loss = EmbedDistillLoss(tiny_model, distance_metric="cosine")
    assert falls(train_losses(loss, tiny_model, [TEXTS, POSITIVES], teacher, lr=1e-2))


def test_embed_distill_loss_trains_its_projection(tiny_model):
    teacher = torch.randn(len(TEXTS), 48, generator=torch.Generator().manual_seed(1))
    loss = EmbedDistillLoss(tiny_model, distance_metric="mse", projection_dim=48)
    assert any(parameter is loss.projection.weight for parameter in loss.parameters())
    assert falls(train_losses(loss, tiny_model, [TEXTS], teacher, lr=1e-2))


# ---------------------------------------------------------------------------- GlobalOrthogonalRegularizationLoss
def gor_terms(points, dim):
    """M1 ** 2 and relu(M2 - 1 / d) over the off-diagonal cosine similarities of ``points``, in plain numpy."""
    points = np.asarray(points, dtype=np.float64)
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    sims = [float(unit[i] @ unit[j]) for i in range(len(unit)) for j in range(len(unit)) if i != j]
    mean = sum(sims) / len(sims)
    second = sum(s * s for s in sims) / len(sims)
    return mean**2, max(second - 1 / dim, 0.0)


GOR_A = [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 2.0]]
GOR_B = [[1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [2.0, 2.0, 1.0]]


def test_gor_terms_by_hand():
    # column A: cos = 1/sqrt(2) (rows 0, 1), 0, 0 -> M1 = (2/sqrt(2)) / 6, M2 = (2 * 1/2) / 6 = 1/6 < 1/3
    mean_a, second_a = gor_terms(GOR_A, 3)
    assert mean_a == pytest.approx((math.sqrt(2) / 6) ** 2) and second_a == 0.0
    loss = GlobalOrthogonalRegularizationLoss(StubModel(3))
    result = loss(columns(GOR_A, GOR_B))
    assert set(result) == {"gor_mean", "gor_second_moment"}
    mean_b, second_b = gor_terms(GOR_B, 3)
    assert second_b > 0  # column B is bunched together
    assert result["gor_mean"].item() == pytest.approx((mean_a + mean_b) / 2, abs=1e-12)
    assert result["gor_second_moment"].item() == pytest.approx((second_a + second_b) / 2, abs=1e-12)


def test_gor_weights_sum_aggregation_and_disabled_terms():
    mean_a, second_a = gor_terms(GOR_A, 3)
    mean_b, second_b = gor_terms(GOR_B, 3)
    loss = GlobalOrthogonalRegularizationLoss(
        StubModel(3), mean_weight=0.5, second_moment_weight=2.0, aggregation="sum"
    )
    result = loss(columns(GOR_A, GOR_B))
    assert result["gor_mean"].item() == pytest.approx(0.5 * (mean_a + mean_b), abs=1e-12)
    assert result["gor_second_moment"].item() == pytest.approx(2.0 * (second_a + second_b), abs=1e-12)
    only_second = GlobalOrthogonalRegularizationLoss(StubModel(3), mean_weight=0.0)
    assert set(only_second(columns(GOR_B))) == {"gor_second_moment"}
    only_mean = GlobalOrthogonalRegularizationLoss(StubModel(3), second_moment_weight=None)
    assert set(only_mean(columns(GOR_B))) == {"gor_mean"}


def test_gor_other_similarity_and_batch_of_one():
    loss = GlobalOrthogonalRegularizationLoss(StubModel(2), similarity_fct=dot_score)
    points = [[1.0, 2.0], [3.0, -1.0]]  # dot = 1 both ways: M1 = 1, M2 = 1, relu(1 - 1/2) = 0.5
    result = loss(columns(points))
    assert result["gor_mean"].item() == pytest.approx(1.0) and result["gor_second_moment"].item() == pytest.approx(0.5)
    single = loss(columns([[1.0, 2.0]]))
    assert all(value.item() == 0.0 and not torch.isnan(value) for value in single.values())


def test_gor_config_and_validation():
    loss = GlobalOrthogonalRegularizationLoss(StubModel(2), aggregation="sum")
    assert loss.get_config_dict() == {
        "similarity_fct": "cos_sim",
        "mean_weight": 1.0,
        "second_moment_weight": 1.0,
        "aggregation": "sum",
    }
    assert "1708.06320" in loss.citation
    with pytest.raises(ValueError, match="non-zero"):
        GlobalOrthogonalRegularizationLoss(StubModel(2), mean_weight=0, second_moment_weight=None)
    with pytest.raises(ValueError, match="aggregation"):
        GlobalOrthogonalRegularizationLoss(StubModel(2), aggregation="max")


def test_gor_gradient_spreads_points_apart():
    model = StubModel(3)
    result = GlobalOrthogonalRegularizationLoss(model)(columns(GOR_B))
    sum(result.values()).backward()
    assert model.weight.grad is not None and model.weight.grad.abs().sum() > 0


def test_gor_loss_trains(tiny_model):
    loss = GlobalOrthogonalRegularizationLoss(tiny_model)
    assert falls(train_losses(loss, tiny_model, [TEXTS + POSITIVES, NEGATIVES + TEXTS], lr=1e-2))


def test_new_losses_are_exported():
    assert losses.EmbedDistillLoss is EmbedDistillLoss
    assert losses.GlobalOrthogonalRegularizationLoss is GlobalOrthogonalRegularizationLoss
    assert {"EmbedDistillLoss", "GlobalOrthogonalRegularizationLoss"} <= set(losses.__all__)
    assert losses.__all__ == sorted(losses.__all__)


# ------------------------------------------------------------------------------------------- merged forward
def test_merge_pads_and_stacks_columns_column_after_column():
    first = {"input_ids": torch.tensor([[1, 2], [3, 4]]), "attention_mask": torch.ones(2, 2), "prompt_length": 1}
    second = {
        "input_ids": torch.tensor([[5, 6, 7], [8, 0, 0]]),
        "attention_mask": torch.tensor([[1.0, 1, 1], [1, 0, 0]]),
        "prompt_length": 1,
    }
    assert merge_feature_batches([first, second]) is None  # float masks of different widths: no padding floats
    first["attention_mask"] = first["attention_mask"].long()
    second["attention_mask"] = second["attention_mask"].long()
    merged = merge_feature_batches([first, second])
    assert merged["input_ids"].tolist() == [[1, 2, 0], [3, 4, 0], [5, 6, 7], [8, 0, 0]]
    assert merged["attention_mask"].tolist() == [[1, 1, 0], [1, 1, 0], [1, 1, 1], [1, 0, 0]]
    assert merged["prompt_length"] == 1


def test_merge_refuses_columns_that_differ():
    base = {"input_ids": torch.ones(2, 3, dtype=torch.long), "attention_mask": torch.ones(2, 3, dtype=torch.long)}
    assert merge_feature_batches([base, {**base, "prompt_length": 2}]) is None  # different keys
    assert merge_feature_batches([{**base, "prompt_length": 1}, {**base, "prompt_length": 2}]) is None
    assert merge_feature_batches([base, {**base, "input_ids": torch.ones(3, 3, dtype=torch.long)}]) is None
    static = {"input_ids": torch.tensor([1, 2, 3]), "offsets": torch.tensor([0, 2])}  # flat token stream
    assert merge_feature_batches([static, dict(static)]) is None
    assert merge_feature_batches([base, dict(base)]) is not None


def test_column_merging_disabled_is_scoped():
    base = {"input_ids": torch.ones(2, 3, dtype=torch.long), "attention_mask": torch.ones(2, 3, dtype=torch.long)}
    with column_merging_disabled():
        assert merge_feature_batches([base, dict(base)]) is None
        with column_merging_disabled():
            pass
        assert merge_feature_batches([base, dict(base)]) is None  # an inner block does not re-enable it
    assert merge_feature_batches([base, dict(base)]) is not None
    with pytest.raises(RuntimeError), column_merging_disabled():
        raise RuntimeError("boom")
    assert merge_feature_batches([base, dict(base)]) is not None  # reset after an exception too


def test_embed_columns_merges_candidates_and_matches_separate_passes(tiny_model):
    tiny_model.eval()
    counting = CountingModel(tiny_model)
    features = [tiny_model.tokenize(texts) for texts in (TEXTS, POSITIVES, NEGATIVES)]
    with torch.no_grad():
        separate = [tiny_model(dict(f))["sentence_embedding"] for f in features]
        merged = embed_columns(counting, [dict(f) for f in features])
        assert counting.rows == [4, 8]  # the anchor alone, then positives + negatives in one pass
        counting.rows.clear()
        all_merged = embed_columns(counting, [dict(f) for f in features], separate_first=False)
        assert counting.rows == [12]
        counting.rows.clear()
        with column_merging_disabled():
            one_by_one = embed_columns(counting, [dict(f) for f in features])
        assert counting.rows == [4, 4, 4]
        counting.rows.clear()
        assert len(embed_columns(counting, [dict(features[0]), dict(features[1])])) == 2
        assert counting.rows == [4, 4]  # two columns: nothing left to merge
    for result in (merged, all_merged, one_by_one):
        assert len(result) == 3
        for got, want in zip(result, separate, strict=True):
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_merged_forward_gives_the_same_loss_and_gradients(tiny_model):
    tiny_model.eval()
    loss = losses.MultipleNegativesRankingLoss(tiny_model)
    batch = [tiny_model.tokenize(texts) for texts in (TEXTS, POSITIVES, NEGATIVES)]
    merged = loss([dict(f) for f in batch], None)
    merged.backward()
    merged_grads = {name: p.grad.clone() for name, p in tiny_model.named_parameters() if p.grad is not None}
    tiny_model.zero_grad()
    with column_merging_disabled():
        separate = loss([dict(f) for f in batch], None)
    separate.backward()
    assert merged.item() == pytest.approx(separate.item(), rel=1e-5)
    for name, parameter in tiny_model.named_parameters():
        if parameter.grad is not None:
            torch.testing.assert_close(merged_grads[name], parameter.grad, atol=1e-5, rtol=1e-4, msg=name)


def test_cat_padded_token_embeddings():
    short, long = torch.ones(1, 2, 3), torch.full((2, 4, 3), 2.0)
    embeddings, mask = cat_padded_token_embeddings([short, long], [torch.ones(1, 2), torch.ones(2, 4)])
    assert embeddings.shape == (3, 4, 3) and mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1]]
    assert embeddings[0, 2:].abs().sum() == 0 and embeddings[1:].eq(2).all()


def test_chunked_padded_forward_matches_one_pass(tiny_model):
    tiny_model.eval()
    features = tiny_model.tokenize(TEXTS + NEGATIVES)
    counting = CountingModel(tiny_model)
    with torch.no_grad():
        whole, whole_mask = chunked_padded_forward(counting, dict(features), None, None)
        chunked, chunked_mask = chunked_padded_forward(counting, dict(features), None, 3)
    assert counting.rows == [8, 3, 3, 2]
    assert chunked.shape == whole.shape and torch.equal(chunked_mask, whole_mask)
    keep = whole_mask.bool()
    torch.testing.assert_close(chunked[keep], whole[keep], atol=1e-5, rtol=1e-4)


def test_embed_columns_padded_returns_token_embeddings_and_bool_masks(tiny_model):
    tiny_model.eval()
    features = [tiny_model.tokenize(texts) for texts in (POSITIVES, NEGATIVES)]
    counting = CountingModel(tiny_model)
    with torch.no_grad():
        embeddings, masks = embed_columns_padded(counting, [dict(f) for f in features], mini_batch_size=2)
    assert counting.rows == [2, 2, 2, 2]  # merged (8 rows), run 2 rows at a time
    width = max(f["input_ids"].shape[1] for f in features)
    for column, mask, feature in zip(embeddings, masks, features, strict=True):
        assert column.shape == (4, width, 32) and mask.dtype == torch.bool
        assert mask.sum().item() == feature["attention_mask"].sum().item()


# ------------------------------------------------------------------------------------ base.losses helpers
def test_uses_gradient_cache(tiny_model):
    cached = losses.CachedMultipleNegativesRankingLoss(tiny_model)
    assert isinstance(cached, CachedLossMixin) and uses_gradient_cache(cached)
    assert not uses_gradient_cache(losses.MultipleNegativesRankingLoss(tiny_model))
    assert uses_gradient_cache(losses.MegaBatchMarginLoss(tiny_model))
    assert not uses_gradient_cache(losses.MegaBatchMarginLoss(tiny_model, use_mini_batched_version=False))
    assert uses_gradient_cache(losses.MatryoshkaLoss(tiny_model, cached, [32, 16]))
    assert not uses_gradient_cache(losses.MatryoshkaLoss(tiny_model, losses.CoSENTLoss(tiny_model), [32, 16]))
    assert not uses_gradient_cache(object())


def test_has_static_embedding_input(tiny_model, tiny_bert_dir: Path):
    assert not has_static_embedding_input(tiny_model)
    static = StaticEmbedding(Tokenizer.from_file(str(tiny_bert_dir / "tokenizer.json")), embedding_dim=8)
    assert has_static_embedding_input(SentenceTransformer(modules=[static], device="cpu"))


def test_rand_context_replays_random_draws():
    state = RandContext(torch.zeros(1))
    first = torch.rand(3)
    with state:
        again = torch.rand(3)
    assert torch.equal(first, again)


def test_embed_columns_has_one_home():
    assert not hasattr(_loss_utils, "embed_columns")


# ------------------------------------------------------------------------------- wrapper decorators (names)
def test_matryoshka_cached_loss_decorator_by_hand():
    def total(reps, with_backward=False):
        return torch.cat([torch.cat(column) for column in reps]).sum()

    rep = torch.tensor([[3.0, 4.0]])
    decorator = CachedLossDecorator(total, [2, 1], [1.0, 0.5])
    # dim 2: [3, 4] / 5 sums to 1.4; dim 1: [3] / 3 = 1 -> 1.4 + 0.5 * 1
    assert decorator([[rep]]).item() == pytest.approx(1.9)
    leaf = rep.clone().requires_grad_()

    def total_with_backward(reps, with_backward=False):
        value = total(reps)
        if with_backward:
            value.backward()
        return value.detach()

    value = CachedLossDecorator(total_with_backward, [2, 1], [1.0, 0.5])([[leaf]], with_backward=True)
    assert value.item() == pytest.approx(1.9)
    # d/dx of sum(x / |x|) at [3, 4] is (1 - x_i * sum(x) / |x|^2) / |x|; the 1-dim term x / |x| has gradient 0
    expected = [(1 - 3 * 7 / 25) / 5, (1 - 4 * 7 / 25) / 5]
    torch.testing.assert_close(leaf.grad, torch.tensor([expected]))


def test_matryoshka_forward_decorator_replays_truncated_outputs():
    model = StubModel(2)
    decorator = ForwardDecorator(model.forward)
    decorator.set_dim(2)
    full = decorator(columns([[3.0, 4.0]])[0])["sentence_embedding"]
    decorator.set_dim(1)
    truncated = decorator(columns([[3.0, 4.0]])[0])["sentence_embedding"]
    assert model.calls == 1  # the second pass replays the first
    assert full.tolist() == [[0.6, 0.8]] and truncated.tolist() == [[1.0]]


def test_adaptive_layer_decorators_are_exposed_under_upstream_names():
    collector = LayerForwardDecorator(StubModel(2).forward)
    collector(columns([[1.0, 2.0]])[0])
    collector(columns([[3.0, 4.0]])[0])
    assert collector.get_embeddings().tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert collector.embeddings == []
    assert callable(TransformerDecorator.set_layer_idx)
