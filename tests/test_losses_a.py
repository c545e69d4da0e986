"""Training losses (part A): values on hand-computed cases, GradCache equivalence, and a few training steps each.

The value tests feed fixed embeddings through a stub model (its weight starts as the identity, so the embeddings
are exactly the given vectors) and compare with the formula written out in plain numpy. The same losses were also
checked against upstream sentence-transformers 6.2 on shared stub embeddings (values and gradients agreed to
~3e-7 relative); those comparisons are not part of this file.
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
from sentence_transformers.sentence_transformer.losses.angle import AnglELoss
from sentence_transformers.sentence_transformer.losses.cached_multiple_negatives_ranking import (
    CachedMultipleNegativesRankingLoss,
)
from sentence_transformers.sentence_transformer.losses.cached_multiple_negatives_symmetric_ranking import (
    CachedMultipleNegativesSymmetricRankingLoss,
)
from sentence_transformers.sentence_transformer.losses.contrastive import ContrastiveLoss, SiameseDistanceMetric
from sentence_transformers.sentence_transformer.losses.cosent import CoSENTLoss
from sentence_transformers.sentence_transformer.losses.cosine_similarity import CosineSimilarityLoss
from sentence_transformers.sentence_transformer.losses.distill_kl_div import DistillKLDivLoss
from sentence_transformers.sentence_transformer.losses.margin_mse import MarginMSELoss
from sentence_transformers.sentence_transformer.losses.mega_batch_margin import MegaBatchMarginLoss
from sentence_transformers.sentence_transformer.losses.mse import MSELoss
from sentence_transformers.sentence_transformer.losses.multiple_negatives_ranking import (
    MultipleNegativesRankingLoss,
)
from sentence_transformers.sentence_transformer.losses.multiple_negatives_symmetric_ranking import (
    MultipleNegativesSymmetricRankingLoss,
)
from sentence_transformers.sentence_transformer.losses.online_contrastive import OnlineContrastiveLoss
from sentence_transformers.sentence_transformer.losses.softmax import SoftmaxLoss
from sentence_transformers.sentence_transformer.modules import StaticEmbedding
from sentence_transformers.util.similarity import dot_score


class StubModel(nn.Module):
    """Embeds ``features["emb"]`` as ``emb @ weight``; the weight starts as the identity."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.eye(dim, dtype=torch.float64))

    def forward(self, features):
        return {**features, "sentence_embedding": features["emb"] @ self.weight}

    @property
    def device(self):
        return torch.device("cpu")

    def get_sentence_embedding_dimension(self) -> int:
        return self.weight.shape[0]


def columns(*arrays):
    return [{"emb": torch.tensor(np.asarray(a, dtype=np.float64))} for a in arrays]


def unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def cos(a, b):
    return float(unit(a) @ unit(b))


def logsumexp(values):
    values = np.asarray(values, dtype=np.float64)
    top = values.max()
    return float(top + np.log(np.exp(values - top).sum()))


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """One intra-op thread: the models here are tiny, and on a busy machine extra threads only spin and wait."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


RNG = np.random.default_rng(7)
B, D = 5, 4
ANCHORS, POSITIVES, NEG1, NEG2 = (RNG.normal(size=(B, D)) for _ in range(4))


# ----------------------------------------------------------------------------- CosineSimilarityLoss
def test_cosine_similarity_loss_hand_case():
    model = StubModel(2)
    loss = CosineSimilarityLoss(model)
    # cos([1,0],[0,1]) = 0 and cos([1,0],[1,1]) = 1/sqrt(2); labels 0.5 and 1.0
    value = loss(columns([[1, 0], [1, 0]], [[0, 1], [1, 1]]), torch.tensor([0.5, 1.0]))
    expected = ((0 - 0.5) ** 2 + (1 / math.sqrt(2) - 1) ** 2) / 2
    assert value.item() == pytest.approx(expected, rel=1e-9)
    custom = CosineSimilarityLoss(model, loss_fct=nn.L1Loss(), cos_score_transformation=nn.ReLU())
    value = custom(columns([[1, 0], [1, 0]], [[-1, 0], [1, 1]]), torch.tensor([0.5, 1.0]))
    assert value.item() == pytest.approx((0.5 + (1 - 1 / math.sqrt(2))) / 2, rel=1e-9)
    assert loss.get_config_dict() == {
        "loss_fct": "torch.nn.modules.loss.MSELoss",
        "cos_score_transformation": "torch.nn.modules.linear.Identity",
    }
    with pytest.raises(ValueError, match="expects 2 labels"):
        loss(columns([[1, 0], [1, 0]], [[0, 1], [1, 1]]), torch.tensor([0.5, 1.0, 0.2]))


# ----------------------------------------------------------------------------- SoftmaxLoss
def test_softmax_loss_hand_case_and_logits():
    model = StubModel(2)
    loss = SoftmaxLoss(model, sentence_embedding_dimension=2, num_labels=3).double()
    assert loss.classifier.in_features == 6 and loss.classifier.weight.requires_grad
    weight = np.arange(18, dtype=np.float64).reshape(3, 6) / 20 - 0.4
    bias = np.array([0.1, -0.2, 0.3])
    with torch.no_grad():
        loss.classifier.weight.copy_(torch.tensor(weight))
        loss.classifier.bias.copy_(torch.tensor(bias))
    u, v = np.array([[1.0, 2.0], [0.5, -1.0]]), np.array([[0.0, 1.0], [2.0, 2.0]])
    labels = np.array([2, 0])
    features = np.concatenate([u, v, np.abs(u - v)], axis=1)
    logits = features @ weight.T + bias
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -log_probs[np.arange(2), labels].mean()
    assert loss(columns(u, v), torch.tensor(labels)).item() == pytest.approx(expected, rel=1e-9)
    reps, out = loss(columns(u, v), None)
    np.testing.assert_allclose(out.detach().numpy(), logits, rtol=1e-9)
    np.testing.assert_allclose(reps[1].detach().numpy(), v)


def test_softmax_loss_multiplication_only_and_bad_config():
    model = StubModel(2)
    loss = SoftmaxLoss(
        model,
        2,
        2,
        concatenation_sent_rep=False,
        concatenation_sent_difference=False,
        concatenation_sent_multiplication=True,
    ).double()
    with torch.no_grad():
        loss.classifier.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        loss.classifier.bias.zero_()
    # u * v = [2, 3] -> logits [2, 3]; label 1 -> -log softmax = log(e^2 + e^3) - 3
    value = loss(columns([[1.0, 1.0]], [[2.0, 3.0]]), torch.tensor([1]))
    assert value.item() == pytest.approx(math.log(math.exp(2) + math.exp(3)) - 3, rel=1e-9)
    assert SoftmaxLoss(model, embedding_dimension=2, num_labels=3).classifier.in_features == 6
    with pytest.raises(ValueError, match="at least one"):
        SoftmaxLoss(model, 2, 3, concatenation_sent_rep=False, concatenation_sent_difference=False)


# ----------------------------------------------------------------------------- MultipleNegativesRankingLoss
def ranking_reference(cols, scale=20.0, directions=("query_to_doc",), joint=True, hardness=None, strength=0.0, sim=cos):
    """Loop-by-loop InfoNCE with the optional directions and hardness penalty."""
    queries, docs = cols[0], cols[1:]
    total = 0.0
    for i in range(len(queries)):
        query_doc = []
        for j, doc_column in enumerate(docs):
            for b, doc in enumerate(doc_column):
                s = sim(queries[i], doc)
                own, positive = b == i, b == i and j == 0
                penalised = {
                    "in_batch_negatives": not own,
                    "hard_negatives": own and j > 0,
                    "all_negatives": not positive,
                }.get(hardness, False)
                query_doc.append(scale * s + (strength * s if penalised else 0.0))
        groups = [query_doc]
        if "query_to_query" in directions:
            groups.append([scale * sim(queries[i], q) for b, q in enumerate(queries) if b != i])
        if "doc_to_query" in directions:
            groups.append([scale * sim(q, docs[0][i]) for q in queries])
        if "doc_to_doc" in directions:
            groups.append([scale * sim(d[b], docs[0][i]) for d in docs for b in range(len(queries)) if b != i])
        log_z = logsumexp(sum(groups, [])) if joint else np.mean([logsumexp(g) for g in groups])
        total += log_z - scale * sim(queries[i], docs[0][i])
    return total / len(queries)


def test_mnrl_closed_form():
    # orthonormal anchors and positives, scale 1: each row is log(e^1 + e^0) - 1
    loss = MultipleNegativesRankingLoss(StubModel(2), scale=1.0)
    value = loss(columns([[1, 0], [0, 1]], [[1, 0], [0, 1]]), None)
    assert value.item() == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-9)


@pytest.mark.parametrize("num_columns", [2, 3, 4])
def test_mnrl_matches_reference(num_columns):
    cols = [ANCHORS, POSITIVES, NEG1, NEG2][:num_columns]
    model = StubModel(D)
    assert MultipleNegativesRankingLoss(model)(columns(*cols), None).item() == pytest.approx(
        ranking_reference(cols), rel=1e-9
    )
    dot = MultipleNegativesRankingLoss(model, scale=1.0, similarity_fct=dot_score)
    assert dot(columns(*cols), None).item() == pytest.approx(
        ranking_reference(cols, scale=1.0, sim=lambda a, b: float(np.dot(a, b))), rel=1e-9
    )
    gte = ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc")
    value = MultipleNegativesRankingLoss(model, directions=gte)(columns(*cols), None)
    assert value.item() == pytest.approx(ranking_reference(cols, directions=gte), rel=1e-9)
    symmetric = MultipleNegativesSymmetricRankingLoss(model)(columns(*cols), None)
    expected = ranking_reference(cols, directions=("query_to_doc", "doc_to_query"), joint=False)
    assert symmetric.item() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("mode", ["in_batch_negatives", "hard_negatives", "all_negatives"])
def test_mnrl_hardness_modes(mode):
    cols = [ANCHORS, POSITIVES, NEG1]
    loss = MultipleNegativesRankingLoss(StubModel(D), hardness_mode=mode, hardness_strength=5.0)
    expected = ranking_reference(cols, hardness=mode, strength=5.0)
    assert loss(columns(*cols), None).item() == pytest.approx(expected, rel=1e-9)


def test_mnrl_options_are_validated_and_reported():
    model = StubModel(D)
    with pytest.raises(ValueError, match="query_to_doc"):
        MultipleNegativesRankingLoss(model, directions=("doc_to_query",))
    with pytest.raises(ValueError, match="per_direction"):
        MultipleNegativesRankingLoss(model, directions=("query_to_doc", "doc_to_doc"), partition_mode="per_direction")
    with pytest.raises(ValueError, match="hardness_mode"):
        MultipleNegativesRankingLoss(model, hardness_mode="hardest")
    with pytest.raises(ValueError, match="scale"):
        MultipleNegativesRankingLoss(model, scale=0)
    with pytest.raises(ValueError, match="at least 2 columns"):
        MultipleNegativesRankingLoss(model)(columns(ANCHORS), None)
    loss = MultipleNegativesSymmetricRankingLoss(model)
    config = loss.get_config_dict()
    assert config["similarity_fct"] == "cos_sim" and config["scale"] == 20.0
    assert config["directions"] == ("query_to_doc", "doc_to_query") and config["partition_mode"] == "per_direction"
    assert "2310.19923" in loss.citation and "1807.03748" in MultipleNegativesRankingLoss(model).citation
    assert MultipleNegativesRankingLoss(model).temperature == pytest.approx(0.05)


# ----------------------------------------------------------------------------- CachedMultipleNegativesRankingLoss
TEXTS = [
    "the quick brown fox",
    "a man is playing a guitar on the street tonight",
    "two women talk",
    "paris is the capital of france",
    "a cat sleeps on the warm windowsill in the afternoon sun",
    "search results ranking",
]
POSITIVE_TEXTS = [
    "a fast fox jumps",
    "music on the street",
    "women at a table",
    "the capital of france",
    "a sleeping cat",
    "retrieval and ranking of documents for a query",
]
NEGATIVE_TEXTS = list(reversed(POSITIVE_TEXTS))


def tokenized(model, *text_columns):
    return [model.tokenize(texts) for texts in text_columns]


def grads_of(model):
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def assert_same_grads(left, right, atol=1e-5):
    assert left.keys() == right.keys() and left
    for name in left:
        torch.testing.assert_close(left[name], right[name], atol=atol, rtol=1e-4, msg=name)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {
            "directions": ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"),
            "hardness_mode": "all_negatives",
            "hardness_strength": 3.0,
        },
    ],
)
def test_cached_mnrl_equals_uncached_loss_and_gradients(tiny_model, options):
    tiny_model.eval()  # no dropout: both losses see identical embeddings
    batch = tokenized(tiny_model, TEXTS, POSITIVE_TEXTS, NEGATIVE_TEXTS)
    plain = MultipleNegativesRankingLoss(tiny_model, **options)(batch, None) * 0.5
    plain.backward()
    expected = grads_of(tiny_model)
    tiny_model.zero_grad()
    cached_loss = CachedMultipleNegativesRankingLoss(tiny_model, mini_batch_size=2, **options)
    cached = cached_loss(tokenized(tiny_model, TEXTS, POSITIVE_TEXTS, NEGATIVE_TEXTS), None) * 0.5
    assert cached.item() == pytest.approx(plain.item(), rel=1e-5)
    cached.backward()  # a plain backward, scaled by 0.5 like the reference
    assert_same_grads(grads_of(tiny_model), expected)
    with torch.no_grad():
        evaluated = cached_loss(tokenized(tiny_model, TEXTS, POSITIVE_TEXTS, NEGATIVE_TEXTS), None)
    assert evaluated.item() == pytest.approx(2 * plain.item(), rel=1e-5) and not evaluated.requires_grad


def test_cached_symmetric_equals_uncached_symmetric_loss_and_gradients(tiny_model):
    tiny_model.eval()
    plain = MultipleNegativesSymmetricRankingLoss(tiny_model, scale=10.0)(tokenized(tiny_model, TEXTS, POSITIVE_TEXTS))
    plain.backward()
    expected = grads_of(tiny_model)
    tiny_model.zero_grad()
    loss = CachedMultipleNegativesSymmetricRankingLoss(tiny_model, scale=10.0, mini_batch_size=4)
    assert loss.directions == ("query_to_doc", "doc_to_query") and loss.partition_mode == "per_direction"
    cached = loss(tokenized(tiny_model, TEXTS, POSITIVE_TEXTS))
    assert cached.item() == pytest.approx(plain.item(), rel=1e-5)
    cached.backward()
    assert_same_grads(grads_of(tiny_model), expected)


def test_cached_mnrl_replays_dropout(tiny_model):
    """In train mode, gradients equal those of the same mini-batch forwards (same dropout masks) done with grad."""
    tiny_model.train()
    mini = 4
    text_columns = (TEXTS, POSITIVE_TEXTS)
    torch.manual_seed(3)
    reference = [
        torch.cat([tiny_model(tiny_model.tokenize(col[i : i + mini]))["sentence_embedding"] for i in range(0, 6, mini)])
        for col in text_columns
    ]
    expected_value = MultipleNegativesRankingLoss(tiny_model).compute_loss_from_embeddings(reference)
    expected_value.backward()
    expected = grads_of(tiny_model)
    tiny_model.zero_grad()
    torch.manual_seed(3)
    cached = CachedMultipleNegativesRankingLoss(tiny_model, mini_batch_size=mini)(tokenized(tiny_model, *text_columns))
    assert cached.item() == pytest.approx(expected_value.item(), rel=1e-5)
    cached.backward()
    assert_same_grads(grads_of(tiny_model), expected)


def test_cached_mnrl_bounds_forward_batch_size(tiny_model):
    sizes, tokens = [], []

    def record(module, args):
        mask = args[0]["attention_mask"]
        sizes.append(mask.shape[0])
        tokens.append(int(mask.sum()))

    handle = tiny_model.register_forward_pre_hook(record)
    try:
        loss = CachedMultipleNegativesRankingLoss(tiny_model, mini_batch_size=2)
        loss(tokenized(tiny_model, TEXTS, POSITIVE_TEXTS), None).backward()
        assert max(sizes) == 2 and len(sizes) == 2 * 2 * 3  # 2 columns x 3 mini-batches, embedded twice
        sizes.clear(), tokens.clear()
        packed = CachedMultipleNegativesRankingLoss(tiny_model, mini_batch_num_tokens=14)
        packed(tokenized(tiny_model, TEXTS, POSITIVE_TEXTS), None).backward()
        assert all(count <= 14 or size == 1 for count, size in zip(tokens, sizes, strict=True)) and max(sizes) > 1
    finally:
        handle.remove()
    config = loss.get_config_dict()
    assert config["mini_batch_size"] == 2 and config["similarity_fct"] == "cos_sim" and "2101.06983" in loss.citation


def test_cached_mnrl_on_static_embedding(tiny_bert_dir: Path):
    """StaticEmbedding batches (flat ids + offsets) are cut into mini-batches too."""
    torch.manual_seed(0)
    static = StaticEmbedding(Tokenizer.from_file(str(tiny_bert_dir / "tokenizer.json")), embedding_dim=16)
    model = SentenceTransformer(modules=[static], device="cpu")
    plain = MultipleNegativesRankingLoss(model)(tokenized(model, TEXTS, POSITIVE_TEXTS), None)
    plain.backward()
    expected = grads_of(model)
    model.zero_grad()
    cached = CachedMultipleNegativesRankingLoss(model, mini_batch_size=4)(tokenized(model, TEXTS, POSITIVE_TEXTS))
    assert cached.item() == pytest.approx(plain.item(), rel=1e-5)
    cached.backward()
    assert_same_grads(grads_of(model), expected)


# ----------------------------------------------------------------------------- CoSENT and AnglE
def cosent_reference(scores, labels, scale):
    terms = [
        math.exp(scale * (scores[j] - scores[i]))
        for i in range(len(scores))
        for j in range(len(scores))
        if labels[i] > labels[j]
    ]
    return math.log(1 + sum(terms))


def test_cosent_loss_matches_pairwise_formula():
    labels = [0.9, 0.1, 0.5, 0.5, 0.0]  # includes a tie, which must not count
    model = StubModel(D)
    for scale in (20.0, 3.0):
        value = CoSENTLoss(model, scale=scale)(columns(ANCHORS, POSITIVES), torch.tensor(labels))
        scores = [cos(a, p) for a, p in zip(ANCHORS, POSITIVES, strict=True)]
        assert value.item() == pytest.approx(cosent_reference(scores, labels, scale), rel=1e-9)
    # two pairs in the right order and far apart: hardly any loss
    ordered = CoSENTLoss(StubModel(2))(columns([[1, 0], [1, 0]], [[1, 0], [0, 1]]), torch.tensor([1.0, 0.0]))
    assert ordered.item() == pytest.approx(math.log(1 + math.exp(-20)), rel=1e-9)
    assert CoSENTLoss(model).get_config_dict() == {"scale": 20.0, "similarity_fct": "pairwise_cos_sim"}


def angle_reference(x, y):
    """|Re + Im| of sum(x_c * conj(y_c)) with x_c = first half + i second half of the unit vector."""
    x, y = unit(x), unit(y)
    half = len(x) // 2
    z = ((x[:half] + 1j * x[half:]) * np.conj(y[:half] + 1j * y[half:])).sum()
    return abs(z.real + z.imag)


def test_angle_loss_pairs_and_tuples():
    labels = [0.9, 0.1, 0.5, 0.3, 0.0]
    model = StubModel(D)
    value = AnglELoss(model)(columns(ANCHORS, POSITIVES), torch.tensor(labels))
    scores = [angle_reference(a, p) for a, p in zip(ANCHORS, POSITIVES, strict=True)]
    assert value.item() == pytest.approx(cosent_reference(scores, labels, 20.0), rel=1e-9)
    # (anchor, positive, negative) triplets without labels: positives labelled 1, negatives 0
    value = AnglELoss(model)(columns(ANCHORS, POSITIVES, NEG1), None)
    scores = [angle_reference(a, p) for a, p in zip(ANCHORS, POSITIVES, strict=True)]
    scores += [angle_reference(a, n) for a, n in zip(ANCHORS, NEG1, strict=True)]
    assert value.item() == pytest.approx(cosent_reference(scores, [1] * B + [0] * B, 20.0), rel=1e-9)
    with pytest.raises(ValueError, match="needs labels"):
        AnglELoss(model)(columns(ANCHORS, POSITIVES), None)


# ----------------------------------------------------------------------------- Contrastive losses
def test_contrastive_loss_hand_case():
    model = StubModel(2)
    anchors, others = [[0.0, 0.0], [0.0, 0.0]], [[3.0, 4.0], [0.3, 0.4]]  # distances 5 and 0.5
    loss = ContrastiveLoss(model, distance_metric=SiameseDistanceMetric.EUCLIDEAN, margin=1.0)
    # similar pair at distance 5: 0.5 * 25; dissimilar pair at 0.5 < margin 1: 0.5 * 0.5^2
    value = loss(columns(anchors, others), torch.tensor([1, 0]))
    assert value.item() == pytest.approx((12.5 + 0.125) / 2, abs=1e-5)
    summed = ContrastiveLoss(model, SiameseDistanceMetric.MANHATTAN, margin=1.0, size_average=False)
    # Manhattan distances 7 and 0.7: 0.5 * 49 + 0.5 * 0.3^2 (pairwise_distance adds 1e-6 per coordinate)
    assert summed(columns(anchors, others), torch.tensor([1, 0])).item() == pytest.approx(24.5 + 0.045, abs=1e-4)
    default = ContrastiveLoss(model)  # cosine distance, margin 0.5
    value = default(columns([[1.0, 0.0], [1.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]), torch.tensor([1, 0]))
    distance = 1 - 1 / math.sqrt(2)
    assert value.item() == pytest.approx((0.5 * distance**2 + 0.5 * (0.5 - distance) ** 2) / 2, rel=1e-9)
    assert default.get_config_dict() == {
        "distance_metric": "SiameseDistanceMetric.COSINE_DISTANCE",
        "margin": 0.5,
        "size_average": True,
    }
    with pytest.warns(UserWarning, match="0 or 1"):
        ContrastiveLoss(model)(columns([[1.0, 0.0]], [[1.0, 1.0]]), torch.tensor([0.5]))


def test_online_contrastive_loss_uses_hard_pairs_only():
    model = StubModel(1)
    # 1-D embeddings at 0 and d: Euclidean distances positives [0.2, 0.9], negatives [0.5, 1.5]
    anchors, others = [[0.0]] * 4, [[0.2], [0.9], [0.5], [1.5]]
    labels = torch.tensor([1, 1, 0, 0])
    loss = OnlineContrastiveLoss(model, distance_metric=SiameseDistanceMetric.EUCLIDEAN, margin=1.0)
    # hard positive: 0.9 (> closest negative 0.5); hard negative: 0.5 (< farthest positive 0.9)
    assert loss(columns(anchors, others), labels).item() == pytest.approx(0.9**2 + (1 - 0.5) ** 2, abs=1e-5)
    # only positives: those above their mean distance count
    only_positive = loss(columns(anchors[:2], others[:2]), labels[:2])
    assert only_positive.item() == pytest.approx(0.9**2, abs=1e-5)
    assert loss.get_config_dict() == {"distance_metric": "SiameseDistanceMetric.EUCLIDEAN", "margin": 1.0}
    assert loss.citation is None


# ----------------------------------------------------------------------------- Distillation losses
def test_mse_loss_against_teacher_embeddings():
    model = StubModel(D)
    teacher = RNG.normal(size=(B, D))
    expected = (((ANCHORS - teacher) ** 2).mean() + ((POSITIVES - teacher) ** 2).mean()) / 2
    value = MSELoss(model)(columns(ANCHORS, POSITIVES), torch.tensor(teacher))
    assert value.item() == pytest.approx(expected, rel=1e-9)
    per_column = np.stack([teacher, -teacher], axis=1)  # (batch, columns, dim): one target per column
    expected = (((ANCHORS - teacher) ** 2).mean() + ((POSITIVES + teacher) ** 2).mean()) / 2
    value = MSELoss(model)(columns(ANCHORS, POSITIVES), torch.tensor(per_column))
    assert value.item() == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="shape"):
        MSELoss(model)(columns(ANCHORS, POSITIVES), torch.zeros(B, 3, D))
    projected = MSELoss(model, projection_dim=3)
    assert projected.projection.in_features == D and projected.get_config_dict() == {"projection_dim": 3}


def test_margin_mse_loss():
    model = StubModel(D)
    dot = lambda a, b: (a * b).sum(axis=1)  # noqa: E731
    student_margin = dot(ANCHORS, POSITIVES) - dot(ANCHORS, NEG1)
    teacher = RNG.normal(size=B)
    value = MarginMSELoss(model)(columns(ANCHORS, POSITIVES, NEG1), torch.tensor(teacher))
    assert value.item() == pytest.approx(((student_margin - teacher) ** 2).mean(), rel=1e-9)
    # two negatives, labels as teacher scores (positive first): margins are score differences
    scores = RNG.normal(size=(B, 3))
    margins = np.stack([dot(ANCHORS, POSITIVES) - dot(ANCHORS, n) for n in (NEG1, NEG2)], axis=1)
    teacher_margins = scores[:, :1] - scores[:, 1:]
    value = MarginMSELoss(model)(columns(ANCHORS, POSITIVES, NEG1, NEG2), torch.tensor(scores))
    assert value.item() == pytest.approx(((margins - teacher_margins) ** 2).mean(), rel=1e-9)
    with pytest.raises(ValueError, match="shape"):
        MarginMSELoss(model)(columns(ANCHORS, POSITIVES, NEG1), torch.zeros(B, 4))


def test_distill_kl_div_loss():
    model = StubModel(D)
    teacher = RNG.normal(size=(B, 2)) * 3

    def expected(t_student, t_teacher):
        student = np.stack([(ANCHORS * c).sum(axis=1) for c in (POSITIVES, NEG1)], axis=1) / t_student
        log_q = student - np.log(np.exp(student).sum(axis=1, keepdims=True))
        p = np.exp(teacher / t_teacher) / np.exp(teacher / t_teacher).sum(axis=1, keepdims=True)
        return (p * (np.log(p) - log_q)).sum() / B * t_student**2

    value = DistillKLDivLoss(model)(columns(ANCHORS, POSITIVES, NEG1), torch.tensor(teacher))
    assert value.item() == pytest.approx(expected(1.0, 1.0), rel=1e-9)
    loss = DistillKLDivLoss(model, temperature=2.0, teacher_temperature=0.5)
    value = loss(columns(ANCHORS, POSITIVES, NEG1), torch.tensor(teacher))
    assert value.item() == pytest.approx(expected(2.0, 0.5), rel=1e-9)
    assert loss.get_config_dict() == {
        "similarity_fct": "pairwise_dot_score",
        "temperature": 2.0,
        "teacher_temperature": 0.5,
    }
    with pytest.raises(ValueError, match="at least 2 candidate"):
        DistillKLDivLoss(model)(columns(ANCHORS, POSITIVES), torch.tensor(teacher[:, :1]))
    with pytest.raises(ValueError, match="temperature"):
        DistillKLDivLoss(model, temperature=0)


# ----------------------------------------------------------------------------- MegaBatchMarginLoss
def megabatch_reference(anchors, positives, positive_margin=0.8, negative_margin=0.3):
    total = 0.0
    for i, anchor in enumerate(anchors):
        hardest = max(cos(anchor, p) for b, p in enumerate(positives) if b != i)
        total += max(0.0, positive_margin - cos(anchor, positives[i])) + max(0.0, hardest - negative_margin)
    return total / len(anchors)


@pytest.mark.parametrize("mini_batched", [True, False])
def test_mega_batch_margin_loss(mini_batched):
    model = StubModel(D)
    loss = MegaBatchMarginLoss(model, use_mini_batched_version=mini_batched, mini_batch_size=2)
    value = loss(columns(ANCHORS, POSITIVES), None)
    assert value.item() == pytest.approx(megabatch_reference(ANCHORS, POSITIVES), rel=1e-9)
    other = MegaBatchMarginLoss(model, 0.95, -0.2, use_mini_batched_version=mini_batched)
    expected = megabatch_reference(ANCHORS, POSITIVES, 0.95, -0.2)
    assert other(columns(ANCHORS, POSITIVES), None).item() == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="exactly 2 columns"):
        loss(columns(ANCHORS, POSITIVES, NEG1), None)


def test_mega_batch_margin_mini_batched_gradients_equal_plain(tiny_model):
    tiny_model.eval()
    batch = tokenized(tiny_model, TEXTS, POSITIVE_TEXTS)
    MegaBatchMarginLoss(tiny_model, use_mini_batched_version=False)(batch, None).backward()
    expected = grads_of(tiny_model)
    tiny_model.zero_grad()
    MegaBatchMarginLoss(tiny_model, mini_batch_size=4)(tokenized(tiny_model, TEXTS, POSITIVE_TEXTS), None).backward()
    assert_same_grads(grads_of(tiny_model), expected)


# ----------------------------------------------------------------------------- training: the loss falls
def training_cases(model):
    """(loss, text columns, labels) for every loss, on a fixed batch of 6."""
    torch.manual_seed(0)
    dim = model.get_sentence_embedding_dimension()
    pair, triple = (TEXTS, POSITIVE_TEXTS), (TEXTS, POSITIVE_TEXTS, NEGATIVE_TEXTS)
    scores = torch.tensor([0.9, 0.1, 0.8, 0.2, 0.7, 0.0])
    binary = torch.tensor([1, 0, 1, 0, 1, 0])
    return {
        "cosine": (CosineSimilarityLoss(model), pair, scores),
        "softmax": (SoftmaxLoss(model, dim, 3), pair, torch.tensor([0, 1, 2, 0, 1, 2])),
        "mnrl": (MultipleNegativesRankingLoss(model), triple, None),
        "symmetric": (MultipleNegativesSymmetricRankingLoss(model), pair, None),
        "cached": (CachedMultipleNegativesRankingLoss(model, mini_batch_size=4), triple, None),
        "cached_symmetric": (CachedMultipleNegativesSymmetricRankingLoss(model, mini_batch_size=4), pair, None),
        "cosent": (CoSENTLoss(model), pair, scores),
        "angle": (AnglELoss(model), pair, scores),
        "contrastive": (ContrastiveLoss(model), pair, binary),
        "online": (OnlineContrastiveLoss(model), pair, binary),
        "mse": (MSELoss(model), pair, torch.randn(6, dim) * 0.5),
        "margin_mse": (MarginMSELoss(model), triple, torch.tensor([2.0, 1.0, 3.0, 0.5, 1.5, 2.5])),
        "kl": (DistillKLDivLoss(model), triple, torch.tensor([[3.0, 0.0], [0.0, 2.0], [1.0, -1.0]] * 2)),
        "megabatch": (MegaBatchMarginLoss(model, mini_batch_size=4), pair, None),
    }


TRAINED_LOSSES = [
    "cosine",
    "softmax",
    "mnrl",
    "symmetric",
    "cached",
    "cached_symmetric",
    "cosent",
    "angle",
    "contrastive",
    "online",
    "mse",
    "margin_mse",
    "kl",
    "megabatch",
]


@pytest.mark.parametrize("name", TRAINED_LOSSES)
def test_training_lowers_the_loss(tiny_bert_dir: Path, name):
    torch.manual_seed(0)
    model = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    loss, text_columns, labels = training_cases(model)[name]
    batch = [model.tokenize(list(texts)) for texts in text_columns]

    def evaluate() -> float:
        model.eval()
        with torch.no_grad():
            return float(loss([dict(f) for f in batch], labels))

    before = evaluate()
    optimizer = torch.optim.AdamW(loss.parameters(), lr=5e-3)
    model.train()
    for _ in range(8):
        optimizer.zero_grad()
        loss([dict(f) for f in batch], labels).backward()
        optimizer.step()
    after = evaluate()
    assert after < 0.6 * before, f"{name}: {before} -> {after}"
