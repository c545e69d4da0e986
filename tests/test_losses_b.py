"""Losses B: triplet family, Matryoshka / AdaptiveLayer / 2D, GISTEmbed (+ cached), TSDAE, Contrastive Tension.

Each loss is checked (1) on fixed embeddings from a stub model against the formula written out in plain torch, and
(2) by training the tiny BERT a few steps on a fixed batch. Values and gradients were also compared with upstream
sentence-transformers 6.2 on the tiny BERT (53 cases, all equal to 1e-4); those runs are not part of this suite.
"""

from __future__ import annotations

import copy
import math
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoTokenizer

from sentence_transformers.sentence_transformer.datasets.denoising_auto_encoder import DenoisingAutoEncoderDataset
from sentence_transformers.sentence_transformer.losses.adaptive_layer import AdaptiveLayerLoss
from sentence_transformers.sentence_transformer.losses.batch_all_triplet import BatchAllTripletLoss
from sentence_transformers.sentence_transformer.losses.batch_hard_soft_margin_triplet import (
    BatchHardSoftMarginTripletLoss,
)
from sentence_transformers.sentence_transformer.losses.batch_hard_triplet import (
    BatchHardTripletLoss,
    BatchHardTripletLossDistanceFunction,
)
from sentence_transformers.sentence_transformer.losses.batch_semi_hard_triplet import BatchSemiHardTripletLoss
from sentence_transformers.sentence_transformer.losses.cached_gist_embed import CachedGISTEmbedLoss
from sentence_transformers.sentence_transformer.losses.contrastive_tension import (
    ContrastiveTensionDataLoader,
    ContrastiveTensionLoss,
    ContrastiveTensionLossInBatchNegatives,
)
from sentence_transformers.sentence_transformer.losses.denoising_auto_encoder import DenoisingAutoEncoderLoss
from sentence_transformers.sentence_transformer.losses.gist_embed import GISTEmbedLoss
from sentence_transformers.sentence_transformer.losses.matryoshka import MatryoshkaLoss
from sentence_transformers.sentence_transformer.losses.matryoshka_2d import Matryoshka2dLoss
from sentence_transformers.sentence_transformer.losses.triplet import TripletDistanceMetric, TripletLoss

ANCHORS = [
    "the quick brown fox jumps over the lazy dog",
    "a man is playing a guitar on the street",
    "two women are sitting at a table and talking",
    "what is the capital of france",
    "a cat sleeps on the warm windowsill",
    "sentence embeddings map texts to dense vectors",
]
POSITIVES = [
    "a brown fox jumps over a dog",
    "a man plays guitar on the street",
    "women sit at a table talking",
    "paris is the capital of france",
    "a cat sleeps in the afternoon sun",
    "dense vectors for semantic search",
]
NEGATIVES = ANCHORS[3:] + ANCHORS[:3]
CLASS_TEXTS = ANCHORS + POSITIVES
CLASS_LABELS = torch.tensor([0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]) % 3

# Embeddings of the stub model: six points in the plane, classes {0, 0, 1, 1, 2, 2} (rows 0-5).
POINTS = torch.tensor([[0.0, 0.0], [1.0, 0.5], [2.0, 0.0], [0.5, 1.5], [3.0, 1.0], [0.2, 0.1]])
POINT_LABELS = torch.tensor([0, 0, 1, 1, 2, 2])


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models gain nothing from threads, and two OpenMP threads on a busy 2-core machine are 10x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class TableModel(nn.Module):
    """Stub SentenceTransformer: text number ``i`` (``features["idx"]``) is embedded as row ``i`` of a table."""

    def __init__(self, table: torch.Tensor, tokenizer=None) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.as_tensor(table, dtype=torch.float32).clone())
        self.tokenizer = tokenizer
        self.max_seq_length = 64
        self.calls = 0

    @property
    def device(self) -> torch.device:
        return self.table.device

    def forward(self, features, **kwargs):
        self.calls += 1
        return {**features, "sentence_embedding": self.table[features["idx"]]}

    def get_sentence_embedding_dimension(self) -> int:
        return self.table.shape[1]


def rows(*indices):
    """Features selecting rows of a TableModel."""
    return {"idx": torch.tensor(indices)}


class AnchorPositiveDistance(nn.Module):
    """A tiny inline loss: mean squared distance between the two columns' embeddings."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, features, labels=None):
        first, second = (self.model(f)["sentence_embedding"] for f in features)
        return ((first - second) ** 2).sum(dim=1).mean()


def train_losses(loss, model, columns, labels=None, steps=6, lr=5e-3):
    """Loss values over a few AdamW steps on one fixed tokenized batch."""
    torch.manual_seed(0)
    features = [model.tokenize(column) for column in columns]
    model.train()
    optimizer = torch.optim.AdamW(loss.parameters(), lr=lr)
    values = []
    for _ in range(steps):
        value = loss([dict(f) for f in features], labels)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        values.append(value.item())
    return values


def falls(values):
    return values[-1] < values[0] and min(values[-2:]) < 0.9 * values[0]


# ----------------------------------------------------------------------------------------------------- triplet
@pytest.mark.parametrize(
    ("metric", "distance"),
    [
        (TripletDistanceMetric.EUCLIDEAN, lambda x, y: torch.dist(x, y, p=2)),
        (TripletDistanceMetric.MANHATTAN, lambda x, y: torch.dist(x, y, p=1)),
        (TripletDistanceMetric.COSINE, lambda x, y: 1 - F.cosine_similarity(x, y, dim=0)),
    ],
)
def test_triplet_loss_value(metric, distance):
    model = TableModel(POINTS)
    loss = TripletLoss(model, distance_metric=metric, triplet_margin=0.3)
    anchors, positives, negatives = [0, 2, 4], [1, 3, 5], [2, 0, 1]
    value = loss([rows(*anchors), rows(*positives), rows(*negatives)], None)
    hinges = [
        float(distance(POINTS[a], POINTS[p]) - distance(POINTS[a], POINTS[n])) + 0.3
        for a, p, n in zip(anchors, positives, negatives, strict=True)
    ]
    assert min(hinges) < 0 < max(hinges)  # one triplet is already solved and clipped to 0
    assert value.item() == pytest.approx(sum(max(h, 0.0) for h in hinges) / 3, abs=1e-6)


def test_triplet_loss_defaults_and_config():
    loss = TripletLoss(TableModel(POINTS))
    assert loss.triplet_margin == 5
    assert loss.get_config_dict() == {"distance_metric": "TripletDistanceMetric.EUCLIDEAN", "triplet_margin": 5}
    assert "hermans2017defense" in loss.citation
    with pytest.raises(ValueError, match="3 columns"):
        loss([rows(0), rows(1)], None)


def pairwise_euclidean(points):
    return torch.tensor([[float(torch.dist(a, b)) for b in points] for a in points])


def test_batch_hard_distance_functions():
    euclidean = BatchHardTripletLossDistanceFunction.euclidean_distance(POINTS)
    assert torch.allclose(euclidean, pairwise_euclidean(POINTS), atol=1e-5)
    squared = BatchHardTripletLossDistanceFunction.euclidean_distance(POINTS, squared=True)
    assert torch.allclose(squared, pairwise_euclidean(POINTS) ** 2, atol=1e-5)
    assert (
        BatchHardTripletLossDistanceFunction.eucledian_distance
        is BatchHardTripletLossDistanceFunction.euclidean_distance
    )
    cosine = BatchHardTripletLossDistanceFunction.cosine_distance(POINTS[1:])
    assert cosine[0, 1].item() == pytest.approx(1 - F.cosine_similarity(POINTS[1], POINTS[2], dim=0).item(), abs=1e-6)
    # identical rows: distance 0 with a finite (zero) gradient, where a plain sqrt would give NaN
    twin = torch.tensor([[1.0, 2.0], [1.0, 2.0]], requires_grad=True)
    BatchHardTripletLossDistanceFunction.euclidean_distance(twin).sum().backward()
    assert torch.isfinite(twin.grad).all()


def hardest(distances, labels, anchor):
    positives = [float(distances[anchor, j]) for j in range(len(labels)) if j != anchor and labels[j] == labels[anchor]]
    negatives = [float(distances[anchor, j]) for j in range(len(labels)) if labels[j] != labels[anchor]]
    return (max(positives) if positives else 0.0), min(negatives)


def test_batch_hard_triplet_loss_value():
    distances = pairwise_euclidean(POINTS)
    value = BatchHardTripletLoss(TableModel(POINTS), margin=1.5)([rows(0, 1, 2, 3, 4, 5)], POINT_LABELS)
    terms = []
    for a in range(6):
        hardest_positive, hardest_negative = hardest(distances, POINT_LABELS, a)
        terms.append(max(hardest_positive - hardest_negative + 1.5, 0.0))
    assert value.item() == pytest.approx(sum(terms) / 6, abs=1e-5)


def test_batch_hard_soft_margin_triplet_loss_value():
    distances = pairwise_euclidean(POINTS)
    value = BatchHardSoftMarginTripletLoss(TableModel(POINTS))([rows(0, 1, 2, 3, 4, 5)], POINT_LABELS)
    terms = [math.log1p(math.exp(p - n)) for p, n in (hardest(distances, POINT_LABELS, a) for a in range(6))]
    assert value.item() == pytest.approx(sum(terms) / 6, abs=1e-5)


def test_batch_all_triplet_loss_value():
    distances = pairwise_euclidean(POINTS)
    value = BatchAllTripletLoss(TableModel(POINTS), margin=1.0)([rows(0, 1, 2, 3, 4, 5)], POINT_LABELS)
    hinges = [
        max(float(distances[a, p] - distances[a, n]) + 1.0, 0.0)
        for a in range(6)
        for p in range(6)
        for n in range(6)
        if a != p and POINT_LABELS[a] == POINT_LABELS[p] and POINT_LABELS[n] != POINT_LABELS[a]
    ]
    active = sum(h > 1e-16 for h in hinges)
    assert 0 < active < len(hinges)
    assert value.item() == pytest.approx(sum(hinges) / active, abs=1e-5)


def test_batch_semi_hard_triplet_loss_value():
    distances = pairwise_euclidean(POINTS)
    value = BatchSemiHardTripletLoss(TableModel(POINTS), margin=1.0)([rows(0, 1, 2, 3, 4, 5)], POINT_LABELS)
    hinges, used_fallback, used_beyond = [], False, False
    for a in range(6):
        negatives = [float(distances[a, n]) for n in range(6) if POINT_LABELS[n] != POINT_LABELS[a]]
        for p in range(6):
            if p == a or POINT_LABELS[p] != POINT_LABELS[a]:
                continue
            beyond = [d for d in negatives if d > distances[a, p]]
            used_fallback |= not beyond
            used_beyond |= bool(beyond)
            chosen = min(beyond) if beyond else max(negatives)
            hinges.append(max(float(distances[a, p]) - chosen + 1.0, 0.0))
    assert used_fallback and used_beyond  # the case exercises both rules
    assert value.item() == pytest.approx(sum(hinges) / len(hinges), abs=1e-5)


@pytest.mark.parametrize("loss_class", [BatchHardTripletLoss, BatchAllTripletLoss, BatchSemiHardTripletLoss])
def test_batch_triplet_losses_check_labels_and_config(loss_class):
    loss = loss_class(TableModel(POINTS))
    assert loss.get_config_dict() == {"distance_metric": "euclidean_distance", "margin": 5}
    assert loss.sentence_embedder is loss.model
    with pytest.raises(ValueError, match="expects 6 labels"):
        loss([rows(0, 1, 2, 3, 4, 5)], torch.tensor([0, 1]))


@pytest.mark.parametrize(
    "make_loss",
    [
        lambda m: TripletLoss(m),
        lambda m: BatchHardTripletLoss(m),
        lambda m: BatchAllTripletLoss(m),
        lambda m: BatchSemiHardTripletLoss(m),
        lambda m: BatchHardSoftMarginTripletLoss(m),
    ],
    ids=["triplet", "batch_hard", "batch_all", "batch_semi_hard", "batch_hard_soft_margin"],
)
def test_triplet_losses_train(tiny_model, make_loss):
    loss = make_loss(tiny_model)
    if isinstance(loss, TripletLoss):
        values = train_losses(loss, tiny_model, [ANCHORS, POSITIVES, NEGATIVES])
    else:
        values = train_losses(loss, tiny_model, [CLASS_TEXTS], CLASS_LABELS)
    assert falls(values), values


# ----------------------------------------------------------------------------------------------------- matryoshka
def test_matryoshka_loss_value_and_single_forward():
    table = torch.randn(6, 8, generator=torch.Generator().manual_seed(0))
    model = TableModel(table)
    loss = MatryoshkaLoss(model, AnchorPositiveDistance(model), [4, 8, 2], matryoshka_weights=[0.5, 1.0, 3.0])
    assert loss.matryoshka_dims == (8, 4, 2)  # sorted largest first, weights follow
    assert loss.matryoshka_weights == (1.0, 0.5, 3.0)
    value = loss([rows(0, 1, 2), rows(3, 4, 5)], None)
    expected = 0.0
    for dim, weight in ((8, 1.0), (4, 0.5), (2, 3.0)):
        first, second = F.normalize(table[:3, :dim], dim=1), F.normalize(table[3:, :dim], dim=1)
        expected += weight * ((first - second) ** 2).sum(dim=1).mean()
    assert value.item() == pytest.approx(expected.item(), abs=1e-6)
    assert model.calls == 2  # one forward per column, whatever the number of dimensions
    assert "forward" not in model.__dict__  # the model's forward is restored


def test_matryoshka_loss_truncates_embedding_labels():
    class ToTeacher(nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, features, labels):
            return F.mse_loss(self.model(features[0])["sentence_embedding"], labels)

    table = torch.randn(3, 8, generator=torch.Generator().manual_seed(1))
    teacher = torch.randn(3, 8, generator=torch.Generator().manual_seed(2))
    model = TableModel(table)
    value = MatryoshkaLoss(model, ToTeacher(model), [8, 3])([rows(0, 1, 2)], teacher)
    expected = sum(F.mse_loss(F.normalize(table[:, :d], dim=1), teacher[:, :d]) for d in (8, 3))
    assert value.item() == pytest.approx(expected.item(), abs=1e-6)


def test_matryoshka_loss_samples_dims_and_validates():
    model = TableModel(torch.randn(4, 8))
    loss = MatryoshkaLoss(model, AnchorPositiveDistance(model), [8, 4, 2, 1], n_dims_per_step=2)
    random.seed(0)
    chosen = loss.chosen_indices()
    assert len(chosen) == 2 and chosen == sorted(chosen)
    assert loss.get_config_dict() == {
        "loss": "AnchorPositiveDistance",
        "matryoshka_dims": (8, 4, 2, 1),
        "matryoshka_weights": (1, 1, 1, 1),
        "n_dims_per_step": 2,
    }
    with pytest.raises(ValueError, match="exceed"):
        MatryoshkaLoss(model, AnchorPositiveDistance(model), [16, 8])
    with pytest.raises(ValueError, match="matryoshka_weights"):
        MatryoshkaLoss(model, AnchorPositiveDistance(model), [8, 4], matryoshka_weights=[1])
    with pytest.raises(ValueError, match="positive integers"):
        MatryoshkaLoss(model, AnchorPositiveDistance(model), [8, 0])


def test_matryoshka_loss_trains(tiny_model):
    loss = MatryoshkaLoss(tiny_model, TripletLoss(tiny_model, triplet_margin=1.0), [32, 16, 8])
    assert falls(train_losses(loss, tiny_model, [ANCHORS, POSITIVES, NEGATIVES]))


# ----------------------------------------------------------------------------------------------------- adaptive layers
class FakeTransformer(nn.Module):
    """Stub Transformer with fixed hidden states [layers + 1, batch, tokens, dim]; refuses if they are turned off."""

    def __init__(self, hidden_states: torch.Tensor) -> None:
        super().__init__()
        self.hidden_states = hidden_states
        self.auto_model = SimpleNamespace(config=SimpleNamespace(output_hidden_states=False))

    def forward(self, features, **kwargs):
        if not self.auto_model.config.output_hidden_states:
            raise AssertionError("hidden states were not switched on")
        states = self.hidden_states[:, features["idx"]]
        return {**features, "all_layer_embeddings": tuple(states), "token_embeddings": states[-1]}


class MeanTokens(nn.Module):
    def forward(self, features, **kwargs):
        return {**features, "sentence_embedding": features["token_embeddings"].mean(dim=1)}


def layered_model(seed=0, layers=3, dim=6):
    hidden = torch.randn(layers + 1, 4, 3, dim, generator=torch.Generator().manual_seed(seed))
    return nn.Sequential(FakeTransformer(hidden), MeanTokens()), hidden.mean(dim=2)  # model, per-layer embeddings


def kl_to_final(layer_embeddings, final_embeddings, temperature):
    """KL(softmax(final / T) || softmax(layer / T)), summed over dims and averaged over rows, by hand."""
    target = torch.softmax(final_embeddings / temperature, dim=1)
    log_probs = torch.log_softmax(layer_embeddings / temperature, dim=1)
    return (target * (target.log() - log_probs)).sum() / len(target)


def test_adaptive_layer_loss_value():
    model, embeddings = layered_model()
    loss = AdaptiveLayerLoss(
        model, AnchorPositiveDistance(model), n_layers_per_step=-1, last_layer_weight=0.7, prior_layers_weight=2.0,
        kl_div_weight=0.5, kl_temperature=0.9, layer_weighting="linear",
    )  # fmt: skip
    value = loss([rows(0, 1), rows(2, 3)], None)

    def base(e):
        return ((e[:2] - e[2:]) ** 2).sum(dim=1).mean()

    final = embeddings[-1]
    expected = 0.7 * base(final)
    for layer in range(3):  # layers 0 (embedding output), 1, 2; 3 is the final layer
        expected += base(embeddings[layer]) * (1 / (1 + layer)) / 3 * 2.0
        expected += kl_to_final(embeddings[layer], final, 0.9) * 0.9 * 0.5
    assert value.item() == pytest.approx(expected.item(), abs=1e-5)
    assert model[0].auto_model.config.output_hidden_states is False  # restored
    assert "forward" not in model.__dict__ and "forward" not in model[0].__dict__


def test_adaptive_layer_loss_samples_layers():
    model, embeddings = layered_model()
    loss = AdaptiveLayerLoss(model, AnchorPositiveDistance(model), kl_temperature=0)  # one earlier layer per step

    def base(e):
        return ((e[:2] - e[2:]) ** 2).sum(dim=1).mean()

    random.seed(3)
    layer = random.sample(range(3), 1)[0]
    random.seed(3)
    value = loss([rows(0, 1), rows(2, 3)], None)
    assert value.item() == pytest.approx((base(embeddings[-1]) + base(embeddings[layer])).item(), abs=1e-5)
    assert loss.get_config_dict()["layer_weighting"] == "uniform"
    with pytest.raises(ValueError, match="layer_weighting"):
        AdaptiveLayerLoss(model, AnchorPositiveDistance(model), layer_weighting="cubic")
    with pytest.raises(ValueError, match="Transformer"):
        AdaptiveLayerLoss(nn.Sequential(MeanTokens()), AnchorPositiveDistance(model))


def test_adaptive_layer_loss_trains_without_hidden_states_configured(tiny_model):
    config = tiny_model[0].auto_model.config
    assert not config.output_hidden_states
    loss = AdaptiveLayerLoss(tiny_model, TripletLoss(tiny_model, triplet_margin=1.0), n_layers_per_step=-1)
    assert falls(train_losses(loss, tiny_model, [ANCHORS, POSITIVES, NEGATIVES]))
    assert not config.output_hidden_states


def test_matryoshka_2d_loss_value():
    model, embeddings = layered_model(seed=1)
    loss = Matryoshka2dLoss(
        model, AnchorPositiveDistance(model), [6, 2], matryoshka_weights=[1.0, 0.5], n_layers_per_step=-1,
        n_dims_per_step=-1, kl_temperature=0.5,
    )  # fmt: skip
    value = loss([rows(0, 1), rows(2, 3)], None)

    def matryoshka(e):
        total = 0.0
        for dim, weight in ((6, 1.0), (2, 0.5)):
            first, second = F.normalize(e[:2, :dim], dim=1), F.normalize(e[2:, :dim], dim=1)
            total += weight * ((first - second) ** 2).sum(dim=1).mean()
        return total

    final = embeddings[-1]
    expected = matryoshka(final)
    for layer in range(3):
        # the KL term compares the untruncated embeddings
        expected += matryoshka(embeddings[layer]) / 3 + kl_to_final(embeddings[layer], final, 0.5) * 0.5
    assert value.item() == pytest.approx(expected.item(), abs=1e-5)
    config = loss.get_config_dict()
    assert config["loss"] == "AnchorPositiveDistance" and config["matryoshka_dims"] == (6, 2)
    assert config["n_layers_per_step"] == -1 and "2D Matryoshka" in loss.citation


def test_matryoshka_2d_loss_trains(tiny_model):
    loss = Matryoshka2dLoss(tiny_model, TripletLoss(tiny_model, triplet_margin=1.0), [32, 16, 8])
    assert falls(train_losses(loss, tiny_model, [ANCHORS, POSITIVES, NEGATIVES], steps=8))


# ----------------------------------------------------------------------------------------------------- GISTEmbed
def gist_expected(emb, guide, temperature, margin, strategy="absolute"):
    """GISTEmbed loss row by row: keep a candidate unless the guide ranks it above the anchor's positive."""

    def cos(x, y):
        return F.cosine_similarity(x, y, dim=0)

    (a, p, n), (ga, gp, gn) = emb, guide
    total = 0.0
    for i in range(len(a)):
        positive = cos(ga[i], gp[i])
        threshold = positive - (margin if strategy == "absolute" else abs(positive) * margin)
        logits, target = [], None
        for j in range(len(a)):
            if j == i:
                target = len(logits)
            if j == i or cos(ga[i], gp[j]) <= threshold:
                logits.append(cos(a[i], p[j]))
        blocks = [(a[i], a, ga[i], ga), (p[i], p, gp[i], gp), (a[i], n, ga[i], gn)]
        for row, others, guide_row, guide_others in blocks:
            logits += [cos(row, o) for o, g in zip(others, guide_others, strict=True) if cos(guide_row, g) <= threshold]
        logits = torch.stack(logits) / temperature
        total += torch.logsumexp(logits, dim=0) - logits[target]
    return total / len(a)


@pytest.fixture()
def gist_tables(tiny_bert_dir):
    """Model and guide stubs over 9 texts (anchors 0-2, positives 3-5, negatives 6-8) with the tiny tokenizer."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    model_table = torch.randn(9, 4, generator=torch.Generator().manual_seed(0))
    guide_table = torch.randn(9, 5, generator=torch.Generator().manual_seed(1))
    guide_table[3:6] = guide_table[0:3] + 0.3 * guide_table[3:6]  # the guide sees positives close to anchors
    return TableModel(model_table, tokenizer), TableModel(guide_table, tokenizer)


@pytest.mark.parametrize(("strategy", "margin"), [("absolute", 0.0), ("absolute", 0.2), ("relative", 0.3)])
def test_gist_embed_loss_value(gist_tables, strategy, margin):
    model, guide = gist_tables
    loss = GISTEmbedLoss(model, guide, temperature=0.05, margin_strategy=strategy, margin=margin)
    assert not loss.must_retokenize
    value = loss([rows(0, 1, 2), rows(3, 4, 5), rows(6, 7, 8)], None)
    columns = [model.table[i : i + 3].detach() for i in (0, 3, 6)]
    guide_columns = [guide.table[i : i + 3].detach() for i in (0, 3, 6)]
    expected = gist_expected(columns, guide_columns, 0.05, margin, strategy)
    assert value.item() == pytest.approx(expected.item(), abs=1e-5)


def test_gist_embed_loss_options(gist_tables):
    model, guide = gist_tables
    only_positives = GISTEmbedLoss(model, guide, temperature=0.1, contrast_anchors=False, contrast_positives=False)
    value = only_positives([rows(0, 1, 2), rows(3, 4, 5)], None)
    # with the guide filter off (a huge margin keeps everything), this is MultipleNegativesRankingLoss with scale 10
    everything = GISTEmbedLoss(
        model, guide, temperature=0.1, margin=-10.0, contrast_anchors=False, contrast_positives=False
    )
    scores = F.normalize(model.table[:3], dim=1) @ F.normalize(model.table[3:6], dim=1).T * 10
    mnrl = F.cross_entropy(scores, torch.arange(3))
    assert everything([rows(0, 1, 2), rows(3, 4, 5)], None).item() == pytest.approx(mnrl.item(), abs=1e-5)
    assert value.item() <= mnrl.item() + 1e-6  # filtering only removes candidates
    with pytest.raises(ValueError, match="margin_strategy"):
        GISTEmbedLoss(model, guide, margin_strategy="squared")
    config = only_positives.get_config_dict()
    assert config["temperature"] == 0.1 and config["guide"] is guide and config["margin_strategy"] == "absolute"
    assert "solatorio2024gistembed" in only_positives.citation


def test_gist_embed_loss_retokenizes_for_a_shorter_guide(tiny_model):
    guide = copy.deepcopy(tiny_model)
    columns = [tiny_model.tokenize(c) for c in (ANCHORS, POSITIVES)]
    tiny_model.eval()
    same = GISTEmbedLoss(tiny_model, guide)
    guide.max_seq_length = 32  # shorter than the model's 64: the guide gets its own tokenization
    retokenized = GISTEmbedLoss(tiny_model, guide)
    assert not same.must_retokenize and retokenized.must_retokenize
    with torch.no_grad():
        assert retokenized([dict(c) for c in columns]).item() == pytest.approx(same([dict(c) for c in columns]).item())


def test_gist_embed_loss_trains(tiny_model):
    loss = GISTEmbedLoss(tiny_model, copy.deepcopy(tiny_model), temperature=0.05)
    assert falls(train_losses(loss, tiny_model, [ANCHORS, POSITIVES, NEGATIVES]))


def gradients(model):
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


@pytest.mark.parametrize("margin", [0.0, 0.05])
def test_cached_gist_embed_loss_matches_uncached(tiny_model, margin):
    guide = copy.deepcopy(tiny_model)
    tiny_model.eval()
    columns = [tiny_model.tokenize(c) for c in (ANCHORS, POSITIVES, NEGATIVES)]
    results = []
    for loss in (
        GISTEmbedLoss(tiny_model, guide, margin=margin),
        CachedGISTEmbedLoss(tiny_model, guide, mini_batch_size=4, margin=margin),
    ):
        tiny_model.zero_grad()
        value = loss([dict(c) for c in columns], None)
        value.backward()  # plain backward also works for the cached loss
        results.append((value.item(), gradients(tiny_model).clone()))
    (value, grad), (cached_value, cached_grad) = results
    assert cached_value == pytest.approx(value, abs=1e-5)
    assert grad.abs().sum() > 0
    assert torch.allclose(cached_grad, grad, atol=1e-5, rtol=1e-4)


def test_cached_gist_embed_loss_value_and_config(gist_tables):
    model, guide = gist_tables
    loss = CachedGISTEmbedLoss(model, guide, temperature=0.05, mini_batch_size=2, margin=0.2)
    with torch.no_grad():
        value = loss([rows(0, 1, 2), rows(3, 4, 5), rows(6, 7, 8)], None)
    columns = [model.table[i : i + 3] for i in (0, 3, 6)]
    guide_columns = [guide.table[i : i + 3] for i in (0, 3, 6)]
    assert value.item() == pytest.approx(gist_expected(columns, guide_columns, 0.05, 0.2).item(), abs=1e-5)
    assert loss.uses_gradient_cache
    assert loss.get_config_dict()["mini_batch_size"] == 2
    with pytest.raises(ValueError, match="mini_batch_size"):
        CachedGISTEmbedLoss(model, guide, mini_batch_size=0)


def test_cached_gist_embed_loss_trains_with_dropout(tiny_model):
    loss = CachedGISTEmbedLoss(tiny_model, copy.deepcopy(tiny_model), temperature=0.05, mini_batch_size=2)
    assert falls(train_losses(loss, tiny_model, [ANCHORS, POSITIVES, NEGATIVES]))


def test_matryoshka_wraps_a_cached_loss(tiny_model):
    guide = copy.deepcopy(tiny_model)
    tiny_model.eval()
    columns = [tiny_model.tokenize(c) for c in (ANCHORS, POSITIVES)]
    results = []
    for inner in (GISTEmbedLoss(tiny_model, guide), CachedGISTEmbedLoss(tiny_model, guide, mini_batch_size=4)):
        loss = MatryoshkaLoss(tiny_model, inner, [32, 8], matryoshka_weights=[1.0, 2.0])
        tiny_model.zero_grad()
        value = loss([dict(c) for c in columns], None)
        value.backward()
        results.append((value.item(), gradients(tiny_model).clone()))
    assert results[1][0] == pytest.approx(results[0][0], abs=1e-5)
    assert torch.allclose(results[1][1], results[0][1], atol=1e-5, rtol=1e-4)


# ----------------------------------------------------------------------------------------------------- TSDAE
def test_denoising_auto_encoder_loss_value_and_tying(tiny_model):
    loss = DenoisingAutoEncoderLoss(tiny_model)
    encoder = tiny_model[0].auto_model
    assert loss.decoder.config.is_decoder and loss.decoder.config.add_cross_attention
    assert encoder.embeddings.word_embeddings.weight is loss.decoder.bert.embeddings.word_embeddings.weight
    assert (
        encoder.encoder.layer[1].attention.self.query.weight
        is loss.decoder.bert.encoder.layer[1].attention.self.query.weight
    )
    assert not loss.need_retokenization and loss.get_config_dict()["need_retokenization"] is False
    tiny_model.eval()
    loss.decoder.eval()
    noisy, original = (
        tiny_model.tokenize(["fox dog", "man guitar"]),
        tiny_model.tokenize(["the fox and the dog", "a man"]),
    )
    value = loss([noisy, original], None)
    with torch.no_grad():
        embedding = tiny_model(tiny_model.tokenize(["fox dog", "man guitar"]))["sentence_embedding"]
        ids = original["input_ids"]
        logits = loss.decoder(input_ids=ids[:, :-1], encoder_hidden_states=embedding[:, None]).logits
    # token cross-entropy of predicting token t+1 from tokens <= t, over the non-padding targets only
    log_probs = torch.log_softmax(logits, dim=-1).gather(2, ids[:, 1:, None]).squeeze(2)
    keep = ids[:, 1:] != tiny_model.tokenizer.pad_token_id
    assert keep.sum() < keep.numel()  # the second text is padded
    assert value.item() == pytest.approx(-(log_probs[keep].mean()).item(), abs=1e-5)
    with pytest.raises(ValueError, match="decoder_name_or_path"):
        DenoisingAutoEncoderLoss(tiny_model, tie_encoder_decoder=False)


def test_denoising_auto_encoder_loss_trains(tiny_model):
    loss = DenoisingAutoEncoderLoss(tiny_model)
    np.random.seed(0)
    noisy = [DenoisingAutoEncoderDataset.delete(text) for text in ANCHORS]
    assert falls(train_losses(loss, tiny_model, [noisy, ANCHORS], lr=1e-2))


def test_denoising_auto_encoder_loss_with_a_separate_decoder(tiny_model, tiny_bert_dir):
    loss = DenoisingAutoEncoderLoss(tiny_model, decoder_name_or_path=str(tiny_bert_dir), tie_encoder_decoder=False)
    encoder = tiny_model[0].auto_model
    assert encoder.embeddings.word_embeddings.weight is not loss.decoder.bert.embeddings.word_embeddings.weight
    assert falls(train_losses(loss, tiny_model, [ANCHORS[:3], ANCHORS[:3]], lr=1e-2))


def test_denoising_auto_encoder_dataset():
    dataset = DenoisingAutoEncoderDataset(["one two three four five six seven eight", "single"])
    np.random.seed(0)
    example = dataset[0]
    noisy, original = example.texts
    assert original == "one two three four five six seven eight" and len(dataset) == 2
    words = original.split()
    kept = noisy.split()
    assert 1 <= len(kept) < len(words) and kept == [w for w in words if w in kept]  # a subsequence
    assert dataset[1].texts == ["single", "single"]
    assert DenoisingAutoEncoderDataset.delete("a b c", del_ratio=0.0) == "a b c"
    assert len(DenoisingAutoEncoderDataset.delete("a b c", del_ratio=1.0).split()) == 1
    upper = DenoisingAutoEncoderDataset(["Hello"], noise_fn=str.upper)
    assert upper[0].texts == ["HELLO", "Hello"]


# --------------------------------------------------------------------------------------------- contrastive tension
def test_contrastive_tension_loss_value():
    table = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    model = TableModel(table)
    loss = ContrastiveTensionLoss(model)
    assert loss.model2 is model and loss.model1 is not model
    copy_table = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    loss.model1.table.data = copy_table.clone()
    ids1 = torch.tensor([[5, 6, 0], [7, 8, 9], [5, 0, 0]])
    ids2 = torch.tensor([[5, 6, 0], [7, 8, 8], [6, 0, 0]])

    def features(idx, ids):
        return {"idx": torch.tensor(idx), "input_ids": ids, "attention_mask": (ids > 0).long()}

    value = loss([features([0, 1, 2], ids1), features([3, 2, 1], ids2)], None)
    scores = (copy_table[[0, 1, 2]] * table[[3, 2, 1]]).sum(dim=1)
    labels = torch.tensor([1.0, 0.0, 0.0])  # same token ids → positive pair
    expected = -(labels * F.logsigmoid(scores) + (1 - labels) * F.logsigmoid(-scores)).sum()
    assert value.item() == pytest.approx(expected.item(), abs=1e-5)
    given = loss([features([0, 1, 2], ids1), features([3, 2, 1], ids2)], torch.tensor([0, 1, 1]))
    expected_given = -(F.logsigmoid(-scores[0]) + F.logsigmoid(scores[1]) + F.logsigmoid(scores[2]))
    assert given.item() == pytest.approx(expected_given.item(), abs=1e-5)


def test_contrastive_tension_in_batch_negatives_value():
    table = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    model = TableModel(table)
    loss = ContrastiveTensionLossInBatchNegatives(model, scale=10.0)
    copy_table = table + 0.5 * torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    loss.model1.table.data = copy_table.clone()
    value = loss([rows(0, 1, 2)], None)
    scores = F.normalize(copy_table, dim=1) @ F.normalize(table, dim=1).T * 10.0
    rows_loss = -(torch.log_softmax(scores, dim=1).diagonal().mean())
    columns_loss = -(torch.log_softmax(scores, dim=0).diagonal().mean())
    assert value.item() == pytest.approx(((rows_loss + columns_loss) / 2).item(), abs=1e-5)
    assert loss.get_config_dict() == {"scale": pytest.approx(10.0), "similarity_fct": "cos_sim"}
    assert "carlsson2021semantic" in loss.citation


def test_contrastive_tension_losses_train(tiny_model):
    pairs = ContrastiveTensionDataLoader(ANCHORS + POSITIVES + NEGATIVES, batch_size=4, pos_neg_ratio=2)
    random.seed(0)
    batch = next(iter(pairs))
    labels = torch.tensor([example.label for example in batch])
    columns = [[example.texts[0] for example in batch], [example.texts[1] for example in batch]]
    ct = ContrastiveTensionLoss(tiny_model)
    assert falls(train_losses(ct, tiny_model, columns, labels, lr=1e-3))
    in_batch = ContrastiveTensionLossInBatchNegatives(tiny_model)
    assert falls(train_losses(in_batch, tiny_model, [ANCHORS], lr=1e-3))


def test_contrastive_tension_data_loader():
    sentences = [f"sentence {i}" for i in range(30)]
    loader = ContrastiveTensionDataLoader(sentences, batch_size=4, pos_neg_ratio=2)
    assert len(loader) == 30 // (2 * 4 - 4 // 2)
    batches = list(loader)
    assert len(batches) == len(loader) and sentences[0] == "sentence 0"  # the caller's list is not shuffled
    for batch in batches:
        assert [example.label for example in batch] == [1, 0, 1, 0]
        for example in batch:
            first, second = example.texts
            assert (first == second) == bool(example.label)
    used = [text for batch in batches for example in batch for text in set(example.texts)]
    assert len(used) == len(set(used))  # each sentence used once per epoch
    loader.collate_fn = len
    assert next(iter(loader)) == 4
    with pytest.raises(ValueError, match="multiple of pos_neg_ratio"):
        ContrastiveTensionDataLoader(sentences, batch_size=5, pos_neg_ratio=2)
