"""The SparseEncoder losses (SpladeLoss, CachedSpladeLoss, FlopsLoss, CSRLoss and the Sparse* base losses) and the
SPLADE regularizer-weight scheduler callback.

Values and gradients are checked on stub embeddings: the stub model returns ``features["emb"]`` (times a gain
parameter that starts at 1), so the embeddings are the given tensors and their ``.grad`` is the gradient of the loss
with respect to the embeddings. The references are the formulas written out by hand or in numpy. One test runs
SpladeLoss forward and backward on a real tiny SPLADE model.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from transformers import TrainerControl, TrainerState

from sentence_transformers.sparse_encoder import losses
from sentence_transformers.sparse_encoder.callbacks import SchedulerType, SpladeRegularizerWeightSchedulerCallback
from sentence_transformers.sparse_encoder.losses.csr import normalized_mean_squared_error
from sentence_transformers.util.similarity import dot_score, pairwise_cos_sim, pairwise_dot_score

SPARSE_BASE_LOSSES = [
    losses.SparseMultipleNegativesRankingLoss,
    losses.SparseCoSENTLoss,
    losses.SparseAnglELoss,
    losses.SparseTripletLoss,
    losses.SparseMarginMSELoss,
    losses.SparseCosineSimilarityLoss,
    losses.SparseDistillKLDivLoss,
]


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors gain nothing from threads on a busy 2-core machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class StubSparseModel(nn.Module):
    """Returns ``features["emb"] * gain`` as the sentence embedding (gain starts at 1), like a SPLADE model's output."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones((), dtype=torch.float64))
        self.similarity_fn_name = "dot"

    def forward(self, features, **kwargs):
        return {**features, "sentence_embedding": features["emb"] * self.gain}


class StubCSRModel(StubSparseModel):
    """Adds fixed SparseAutoEncoder-style reconstruction outputs, read from the features, to the stub's outputs."""

    def forward(self, features, **kwargs):
        output = super().forward(features)
        output["sentence_embedding_backbone"] = features["backbone"] * self.gain
        output["decoded_embedding_k"] = features["recons_k"]
        output["decoded_embedding_4k"] = features["recons_4k"]
        output["decoded_embedding_aux"] = features["recons_aux"]
        output["decoded_embedding_k_pre_bias"] = features["pre_bias"]
        return output


def leaf(array) -> torch.Tensor:
    return torch.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def columns(*arrays) -> list[dict[str, torch.Tensor]]:
    """One feature dict per column, each holding a leaf tensor so that its gradient can be read afterwards."""
    return [{"emb": leaf(array)} for array in arrays]


def total(value) -> torch.Tensor:
    return sum(value.values()) if isinstance(value, dict) else value


def np_flops(embeddings: np.ndarray) -> tuple[float, np.ndarray]:
    """FLOPS ``sum_j mean_i(w_ij)^2`` and its gradient ``2 * mean_j / batch``."""
    mean = embeddings.mean(axis=0)
    return float((mean**2).sum()), np.broadcast_to(2 * mean / embeddings.shape[0], embeddings.shape)


def np_softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# Non-negative SPLADE-like weights: 3 rows (batch) over a 4-term vocabulary.
QUERIES = np.array([[1.0, 0.0, 0.5, 0.0], [0.0, 2.0, 0.0, 0.0], [0.3, 0.0, 0.0, 1.0]])
POSITIVES = np.array([[0.8, 0.0, 1.0, 0.0], [0.0, 1.0, 0.2, 0.0], [0.0, 0.5, 0.0, 0.7]])
NEGATIVES = np.array([[0.0, 0.4, 0.0, 0.9], [1.0, 0.0, 0.0, 0.3], [0.2, 0.2, 0.2, 0.0]])


def np_mnrl(queries: np.ndarray, docs: list[np.ndarray], scale: float = 1.0):
    """InfoNCE on dot scores: value and the gradients w.r.t. the queries and each document column."""
    all_docs = np.concatenate(docs)
    scores = scale * queries @ all_docs.T
    batch = queries.shape[0]
    target = np.zeros_like(scores)
    target[np.arange(batch), np.arange(batch)] = 1
    log_z = np.log(np.exp(scores).sum(axis=1))
    value = float(np.mean(log_z - scores[np.arange(batch), np.arange(batch)]))
    coefficient = (np_softmax(scores) - target) / batch * scale
    grad_queries = coefficient @ all_docs
    grad_all_docs = coefficient.T @ queries
    return value, grad_queries, np.split(grad_all_docs, len(docs))


# ------------------------------------------------------------------------------------------------ FlopsLoss
def test_flops_by_hand_value_and_gradient():
    # mean over the batch = [2, 0, 1] -> 2^2 + 0 + 1^2 = 5; d/dw_ij = 2 * mean_j / 2 = mean_j
    embeddings = leaf([[1.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    value = losses.FlopsLoss(StubSparseModel()).compute_loss_from_embeddings(embeddings)
    assert value.item() == pytest.approx(5.0)
    value.backward()
    np.testing.assert_allclose(embeddings.grad.numpy(), [[2.0, 0.0, 1.0], [2.0, 0.0, 1.0]])


def test_flops_threshold_ignores_too_sparse_rows():
    # row 0 has 2 active terms, row 1 only 1: threshold=1 keeps row 0 alone, still averaged over 2 rows
    embeddings = leaf([[1.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    value = losses.FlopsLoss(StubSparseModel(), threshold=1).compute_loss_from_embeddings(embeddings)
    assert value.item() == pytest.approx(0.5**2 + 1.0**2)
    value.backward()
    np.testing.assert_allclose(embeddings.grad.numpy(), [[0.5, 0.0, 1.0], [0.0, 0.0, 0.0]])
    # threshold=2 drops both rows
    assert losses.FlopsLoss(StubSparseModel(), threshold=2).compute_loss_from_embeddings(embeddings).item() == 0.0


def test_flops_matches_numpy_on_random_embeddings():
    rng = np.random.default_rng(0)
    array = np.maximum(rng.normal(size=(7, 11)), 0)
    embeddings = leaf(array)
    value = losses.FlopsLoss(StubSparseModel()).compute_loss_from_embeddings(embeddings)
    value.backward()
    expected, grad = np_flops(array)
    assert value.item() == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(embeddings.grad.numpy(), grad, rtol=1e-12)


def test_flops_is_not_a_standalone_loss():
    loss = losses.FlopsLoss(StubSparseModel(), threshold=3)
    with pytest.raises(NotImplementedError, match="SpladeLoss"):
        loss(columns(QUERIES), None)
    assert loss.get_config_dict() == {"threshold": 3}
    assert "paria2020minimizing" in loss.citation


# ------------------------------------------------------------------------------------------------ SpladeLoss
def test_splade_mnrl_terms_and_gradients_against_numpy():
    model = StubSparseModel()
    loss = losses.SpladeLoss(
        model,
        losses.SparseMultipleNegativesRankingLoss(model),
        document_regularizer_weight=0.3,
        query_regularizer_weight=0.7,
    )
    features = columns(QUERIES, POSITIVES, NEGATIVES)
    terms = loss(features)
    assert list(terms) == ["base_loss", "document_regularizer_loss", "query_regularizer_loss"]

    base, grad_q, (grad_p, grad_n) = np_mnrl(QUERIES, [POSITIVES, NEGATIVES])
    documents = np.concatenate([POSITIVES, NEGATIVES])
    doc_flops, doc_grad = np_flops(documents)
    query_flops, query_grad = np_flops(QUERIES)
    assert terms["base_loss"].item() == pytest.approx(base, rel=1e-10)
    assert terms["document_regularizer_loss"].item() == pytest.approx(0.3 * doc_flops, rel=1e-12)
    assert terms["query_regularizer_loss"].item() == pytest.approx(0.7 * query_flops, rel=1e-12)

    total(terms).backward()
    doc_grad_p, doc_grad_n = np.split(0.3 * doc_grad, 2)
    np.testing.assert_allclose(features[0]["emb"].grad.numpy(), grad_q + 0.7 * query_grad, rtol=1e-10)
    np.testing.assert_allclose(features[1]["emb"].grad.numpy(), grad_p + doc_grad_p, rtol=1e-10)
    np.testing.assert_allclose(features[2]["emb"].grad.numpy(), grad_n + doc_grad_n, rtol=1e-10)


def test_splade_without_query_weight_regularizes_documents_only(caplog):
    model = StubSparseModel()
    with caplog.at_level(logging.WARNING):
        loss = losses.SpladeLoss(model, losses.SparseMultipleNegativesRankingLoss(model), 0.5)
    assert "query_regularizer_weight is None" in caplog.text
    features = columns(QUERIES, POSITIVES)
    terms = loss(features)
    assert "query_regularizer_loss" not in terms
    total(terms).backward()
    _, grad_q, (grad_p,) = np_mnrl(QUERIES, [POSITIVES])
    np.testing.assert_allclose(features[0]["emb"].grad.numpy(), grad_q, rtol=1e-10)
    np.testing.assert_allclose(features[1]["emb"].grad.numpy(), grad_p + 0.5 * np_flops(POSITIVES)[1], rtol=1e-10)


def test_splade_document_regularizer_only_treats_every_column_as_document(caplog):
    model = StubSparseModel()
    with caplog.at_level(logging.WARNING):
        loss = losses.SpladeLoss(
            model,
            losses.SparseMultipleNegativesRankingLoss(model),
            document_regularizer_weight=0.2,
            query_regularizer_weight=0.9,
            use_document_regularizer_only=True,
        )
    assert loss.query_regularizer_weight is None
    assert "ignored" in caplog.text
    terms = loss(columns(QUERIES, POSITIVES))
    assert set(terms) == {"base_loss", "document_regularizer_loss"}
    both = np.concatenate([QUERIES, POSITIVES])
    assert terms["document_regularizer_loss"].item() == pytest.approx(0.2 * np_flops(both)[0], rel=1e-12)


def test_splade_thresholds_reach_the_default_flops_regularizers():
    model = StubSparseModel()
    loss = losses.SpladeLoss(
        model,
        losses.SparseMultipleNegativesRankingLoss(model),
        document_regularizer_weight=1.0,
        query_regularizer_weight=1.0,
        document_regularizer_threshold=2,
        query_regularizer_threshold=1,
    )
    assert isinstance(loss.document_regularizer, losses.FlopsLoss) and loss.document_regularizer.threshold == 2
    assert isinstance(loss.query_regularizer, losses.FlopsLoss) and loss.query_regularizer.threshold == 1
    terms = loss(columns(QUERIES, POSITIVES))
    # every document row has exactly 2 active terms, so none has more than 2
    assert terms["document_regularizer_loss"].item() == 0.0
    # queries with more than 1 active term: rows 0 and 2
    kept = QUERIES * np.array([[1.0], [0.0], [1.0]])
    assert terms["query_regularizer_loss"].item() == pytest.approx(np_flops(kept)[0], rel=1e-12)
    config = loss.get_config_dict()
    assert config["document_regularizer_threshold"] == 2 and config["query_regularizer_threshold"] == 1
    assert "document_regularizer" not in config and config["query_regularizer_weight"] == 1.0


class L1Regularizer(nn.Module):
    def compute_loss_from_embeddings(self, embeddings: torch.Tensor) -> torch.Tensor:
        return embeddings.abs().sum(dim=1).mean()


def test_splade_custom_regularizers_and_dict_base_loss():
    class TwoTermLoss(nn.Module):
        def compute_loss_from_embeddings(self, embeddings, labels=None):
            return {"first": embeddings[0].sum(), "second": 2 * embeddings[1].sum()}

    model = StubSparseModel()
    loss = losses.SpladeLoss(
        model,
        TwoTermLoss(),
        document_regularizer_weight=0.5,
        query_regularizer_weight=0.25,
        document_regularizer=L1Regularizer(),
        query_regularizer=L1Regularizer(),
    )
    terms = loss(columns(QUERIES, POSITIVES))
    assert list(terms) == ["first", "second", "document_regularizer_loss", "query_regularizer_loss"]
    assert terms["first"].item() == pytest.approx(QUERIES.sum())
    assert terms["second"].item() == pytest.approx(2 * POSITIVES.sum())
    assert terms["document_regularizer_loss"].item() == pytest.approx(0.5 * POSITIVES.sum() / 3)
    assert terms["query_regularizer_loss"].item() == pytest.approx(0.25 * QUERIES.sum() / 3)
    config = loss.get_config_dict()
    assert config["document_regularizer"] == "L1Regularizer" and config["query_regularizer"] == "L1Regularizer"
    assert config["loss"] is loss.loss


def test_splade_refuses_unusable_base_losses_and_inputs():
    model = StubSparseModel()
    with pytest.raises(ValueError, match="compute_loss_from_embeddings"):
        losses.SpladeLoss(model, nn.MSELoss(), 0.1, 0.1)
    with pytest.raises(ValueError, match="FlopsLoss"):
        losses.SpladeLoss(model, losses.FlopsLoss(model), 0.1, 0.1)
    with pytest.raises(ValueError, match="CSRReconstructionLoss"):
        losses.SpladeLoss(model, losses.CSRReconstructionLoss(model), 0.1, 0.1)
    loss = losses.SpladeLoss(model, losses.SparseMSELoss(model), 0.1, 0.1)
    with pytest.raises(ValueError, match="use_document_regularizer_only"):
        loss(columns(QUERIES), torch.zeros(3, 4, dtype=torch.float64))


@pytest.mark.parametrize("loss_class", SPARSE_BASE_LOSSES)
def test_sparse_base_losses_refuse_to_run_alone(loss_class):
    loss = loss_class(StubSparseModel())
    with pytest.raises(AttributeError, match="SpladeLoss"):
        loss(columns(QUERIES, POSITIVES, NEGATIVES), torch.ones(3))
    assert callable(loss.compute_loss_from_embeddings)


def test_sparse_base_loss_defaults():
    model = StubSparseModel()
    mnrl = losses.SparseMultipleNegativesRankingLoss(model)
    assert mnrl.scale == 1.0 and mnrl.similarity_fct is dot_score
    assert mnrl.directions == ("query_to_doc",) and mnrl.partition_mode == "joint"
    assert losses.SparseMarginMSELoss(model).similarity_fct is pairwise_dot_score
    kl = losses.SparseDistillKLDivLoss(model)
    assert kl.temperature == kl.student_temperature == kl.teacher_temperature == 2.0
    assert kl.similarity_fct is pairwise_dot_score
    triplet = losses.SparseTripletLoss(model)
    assert triplet.triplet_margin == 5
    assert losses.SparseCoSENTLoss(model).scale == 20.0
    assert losses.SparseCoSENTLoss(model).similarity_fct is pairwise_cos_sim
    assert losses.SparseAnglELoss(model).scale == 20.0
    assert isinstance(losses.SparseCosineSimilarityLoss(model).loss_fct, nn.MSELoss)


@pytest.mark.parametrize(
    "loss_class", [losses.SparseCoSENTLoss, losses.SparseAnglELoss, losses.SparseCosineSimilarityLoss]
)
def test_cosine_based_losses_switch_the_model_to_cosine(loss_class):
    model = StubSparseModel()
    assert model.similarity_fn_name == "dot"
    loss_class(model)
    assert model.similarity_fn_name == "cosine"


# ----------------------------------------------------------------------------- Sparse base losses in SpladeLoss
def splade_base(loss: nn.Module, features, labels=None) -> float:
    """The base-loss term when ``loss`` runs inside SpladeLoss (every column as a document)."""
    wrapper = losses.SpladeLoss(loss.model, loss, 0.0, use_document_regularizer_only=True)
    terms = wrapper(features, labels)
    return terms["base_loss"]


def test_sparse_margin_mse_by_formula():
    labels = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    model = StubSparseModel()
    features = columns(QUERIES, POSITIVES, NEGATIVES)
    value = splade_base(losses.SparseMarginMSELoss(model), features, labels)
    margins = (QUERIES * POSITIVES).sum(1) - (QUERIES * NEGATIVES).sum(1)
    diff = margins - labels.numpy()
    assert value.item() == pytest.approx(np.mean(diff**2), rel=1e-12)
    value.backward()
    # d/dq_i = 2 / B * diff_i * (p_i - n_i)
    np.testing.assert_allclose(
        features[0]["emb"].grad.numpy(), 2 / 3 * diff[:, None] * (POSITIVES - NEGATIVES), rtol=1e-10
    )


def test_sparse_distill_kl_div_by_formula():
    teacher = np.array([[3.0, 1.0], [0.0, 2.0], [1.0, 1.0]])
    model = StubSparseModel()
    value = splade_base(
        losses.SparseDistillKLDivLoss(model), columns(QUERIES, POSITIVES, NEGATIVES), torch.tensor(teacher)
    )
    student = np.stack([(QUERIES * POSITIVES).sum(1), (QUERIES * NEGATIVES).sum(1)], axis=1)
    p_teacher = np_softmax(teacher / 2.0)
    log_p_student = np.log(np_softmax(student / 2.0))
    kl = (p_teacher * (np.log(p_teacher) - log_p_student)).sum(1).mean()
    assert value.item() == pytest.approx(kl * 2.0**2, rel=1e-10)


def test_sparse_cosent_by_brute_force():
    labels = np.array([0.9, 0.1, 0.5])
    model = StubSparseModel()
    value = splade_base(losses.SparseCoSENTLoss(model), columns(QUERIES, POSITIVES), torch.tensor(labels))
    cosine = (QUERIES * POSITIVES).sum(1) / np.linalg.norm(QUERIES, axis=1) / np.linalg.norm(POSITIVES, axis=1)
    exponents = [
        20 * (cosine[j] - cosine[i]) for i in range(3) for j in range(3) if labels[i] > labels[j]
    ]  # pairs (i, j) where i should score higher
    assert value.item() == pytest.approx(math.log(1 + sum(math.exp(e) for e in exponents)), rel=1e-10)


def np_angle(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """|cos + sin| of the complex reading (first half real, second half imaginary) of the unit vectors."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)
    half = x.shape[1] // 2
    zx = x[:, :half] + 1j * x[:, half:]
    zy = y[:, :half] + 1j * y[:, half:]
    product = (zx * np.conj(zy)).sum(1)
    return np.abs(product.real + product.imag)


def test_sparse_angle_is_cosent_on_the_angle_similarity():
    labels = np.array([0.2, 0.8, 0.5])
    model = StubSparseModel()
    loss = losses.SparseAnglELoss(model)
    value = splade_base(loss, columns(QUERIES, NEGATIVES), torch.tensor(labels))
    angle = np_angle(QUERIES, NEGATIVES)
    exponents = [20 * (angle[j] - angle[i]) for i in range(3) for j in range(3) if labels[i] > labels[j]]
    assert value.item() == pytest.approx(math.log(1 + sum(math.exp(e) for e in exponents)), rel=1e-10)
    assert "Angle-optimized" in loss.citation


def test_sparse_cosine_similarity_by_formula():
    labels = np.array([1.0, 0.0, 0.5])
    model = StubSparseModel()
    value = splade_base(losses.SparseCosineSimilarityLoss(model), columns(QUERIES, POSITIVES), torch.tensor(labels))
    cosine = (QUERIES * POSITIVES).sum(1) / np.linalg.norm(QUERIES, axis=1) / np.linalg.norm(POSITIVES, axis=1)
    assert value.item() == pytest.approx(np.mean((cosine - labels) ** 2), rel=1e-10)


def test_sparse_triplet_by_formula():
    model = StubSparseModel()
    loss = losses.SparseTripletLoss(model, triplet_margin=1.0)
    value = splade_base(loss, columns(QUERIES, POSITIVES, NEGATIVES))
    positive = np.linalg.norm(QUERIES - POSITIVES, axis=1)
    negative = np.linalg.norm(QUERIES - NEGATIVES, axis=1)
    assert value.item() == pytest.approx(np.mean(np.maximum(positive - negative + 1.0, 0)), rel=1e-10)


def test_sparse_mse_standalone_and_inside_splade():
    teacher = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    model = StubSparseModel()
    loss = losses.SparseMSELoss(model)
    features = columns(QUERIES)
    value = loss(features, torch.tensor(teacher))
    assert value.item() == pytest.approx(np.mean((QUERIES - teacher) ** 2), rel=1e-12)
    value.backward()
    np.testing.assert_allclose(features[0]["emb"].grad.numpy(), 2 * (QUERIES - teacher) / QUERIES.size, rtol=1e-12)

    wrapper = losses.SpladeLoss(model, loss, 0.5, use_document_regularizer_only=True)
    terms = wrapper(columns(QUERIES, POSITIVES), torch.tensor(teacher))
    both = (np.mean((QUERIES - teacher) ** 2) + np.mean((POSITIVES - teacher) ** 2)) / 2
    assert terms["base_loss"].item() == pytest.approx(both, rel=1e-12)
    flops = np_flops(np.concatenate([QUERIES, POSITIVES]))[0]
    assert terms["document_regularizer_loss"].item() == pytest.approx(0.5 * flops, rel=1e-12)


# ------------------------------------------------------------------------------------------ CachedSpladeLoss
@pytest.mark.parametrize("mini_batch_size", [1, 2])
def test_cached_splade_matches_splade(mini_batch_size):
    model = StubSparseModel()
    base = losses.SparseMultipleNegativesRankingLoss(model)
    plain = losses.SpladeLoss(model, base, 0.3, 0.7)
    cached = losses.CachedSpladeLoss(model, base, 0.3, 0.7, mini_batch_size=mini_batch_size)
    assert cached.uses_gradient_cache

    reference_features = columns(QUERIES, POSITIVES, NEGATIVES)
    reference = plain(reference_features)
    total(reference).backward()
    reference_gain = model.gain.grad.clone()
    model.gain.grad = None

    features = columns(QUERIES, POSITIVES, NEGATIVES)
    terms = cached(features)
    assert list(terms) == list(reference)
    for key in terms:
        assert terms[key].item() == pytest.approx(reference[key].item(), rel=1e-6)
    assert total(terms).item() == pytest.approx(total(reference).item(), rel=1e-12)
    total(terms).backward()
    assert model.gain.grad.item() == pytest.approx(reference_gain.item(), rel=1e-10)
    for column, reference_column in zip(features, reference_features, strict=True):
        np.testing.assert_allclose(column["emb"].grad.numpy(), reference_column["emb"].grad.numpy(), rtol=1e-10)


def test_cached_splade_without_gradients_returns_the_same_values():
    model = StubSparseModel()
    cached = losses.CachedSpladeLoss(
        model, losses.SparseMultipleNegativesRankingLoss(model), 0.3, 0.7, mini_batch_size=2
    )
    with torch.no_grad():
        terms = cached(columns(QUERIES, POSITIVES))
    base, _, _ = np_mnrl(QUERIES, [POSITIVES])
    assert terms["base_loss"].item() == pytest.approx(base, rel=1e-6)
    assert terms["query_regularizer_loss"].item() == pytest.approx(0.7 * np_flops(QUERIES)[0], rel=1e-6)


def test_cached_splade_settings_and_errors():
    model = StubSparseModel()
    base = losses.SparseMultipleNegativesRankingLoss(model)
    cached = losses.CachedSpladeLoss(model, base, 0.3, mini_batch_size=8, mini_batch_num_tokens=100)
    config = cached.get_config_dict()
    assert config["mini_batch_size"] == 8 and config["mini_batch_num_tokens"] == 100
    assert config["document_regularizer_weight"] == 0.3
    assert "gao2021scaling" in cached.citation and "formal2022" in cached.citation
    with pytest.raises(ValueError, match="mini_batch_num_tokens"):
        losses.CachedSpladeLoss(model, base, 0.3, mini_batch_num_tokens=0)
    with pytest.raises(ValueError, match="mini_batch_size"):
        losses.CachedSpladeLoss(model, base, 0.3, mini_batch_size=0)


# ------------------------------------------------------------------------------------------------- CSR losses
def test_normalized_mean_squared_error_by_hand():
    original = torch.tensor([[1.0, 2.0], [3.0, 6.0]], dtype=torch.float64)
    reconstruction = torch.tensor([[1.0, 3.0], [3.0, 4.0]], dtype=torch.float64)
    # mse = (0 + 1 + 0 + 4) / 4; variance around the mean row [2, 4]: (1 + 4 + 1 + 4) / 4
    value = normalized_mean_squared_error(reconstruction, original)
    assert value.item() == pytest.approx((5 / 4) / (10 / 4))
    # all rows equal: zero variance, plain mse
    same = torch.tensor([[1.0, 2.0], [1.0, 2.0]], dtype=torch.float64)
    assert normalized_mean_squared_error(reconstruction, same).item() == pytest.approx((0 + 1 + 4 + 4) / 4)


def csr_column(rng: np.random.Generator, with_aux: bool = True) -> dict[str, torch.Tensor]:
    features = {key: leaf(rng.normal(size=(3, 4))) for key in ("backbone", "recons_k", "recons_4k", "pre_bias")}
    features["emb"] = leaf(np.maximum(rng.normal(size=(3, 6)), 0))
    features["recons_aux"] = leaf(rng.normal(size=(3, 4))) if with_aux else None
    return features


def np_nmse(reconstruction: np.ndarray, original: np.ndarray) -> float:
    variance = np.mean((original - original.mean(axis=0)) ** 2)
    return float(np.mean((reconstruction - original) ** 2) / variance)


def test_csr_loss_terms_by_formula():
    rng = np.random.default_rng(3)
    model = StubCSRModel()
    features = [csr_column(rng), csr_column(rng)]
    loss = losses.CSRLoss(model, beta=0.4, gamma=0.6)
    assert isinstance(loss.loss, losses.SparseMultipleNegativesRankingLoss)
    terms = loss(features)
    assert list(terms) == ["reconstruction_loss_k", "reconstruction_loss_4k", "reconstruction_loss_aux", "base_loss"]

    arrays = [{key: value.detach().numpy() for key, value in column.items()} for column in features]
    loss_k = np.mean([np.mean((c["backbone"] - c["recons_k"]) ** 2) for c in arrays])
    loss_4k = np.mean([np.mean((c["backbone"] - c["recons_4k"]) ** 2) for c in arrays])
    loss_aux = np.mean([np_nmse(c["recons_aux"], c["backbone"] - c["pre_bias"]) for c in arrays])
    base, _, _ = np_mnrl(arrays[0]["emb"], [arrays[1]["emb"]])
    assert terms["reconstruction_loss_k"].item() == pytest.approx(loss_k, rel=1e-10)
    assert terms["reconstruction_loss_4k"].item() == pytest.approx(loss_4k / 8, rel=1e-10)
    assert terms["reconstruction_loss_aux"].item() == pytest.approx(0.4 * loss_aux, rel=1e-10)
    assert terms["base_loss"].item() == pytest.approx(0.6 * base, rel=1e-10)

    total(terms).backward()
    # the auxiliary target's decoder output is not trained through the residual
    assert features[0]["pre_bias"].grad is None
    # d L_k / d recons_k = -2 (x - r) / (n * columns)
    expected = -2 * (arrays[0]["backbone"] - arrays[0]["recons_k"]) / (12 * 2)
    np.testing.assert_allclose(features[0]["recons_k"].grad.numpy(), expected, rtol=1e-10)

    # the backbone embedding gets the gradient of all three terms (the aux residual and its variance included):
    # compare with central differences of the numpy formulas
    def reconstruction_total(backbone: np.ndarray) -> float:
        c = {**arrays[0], "backbone": backbone}
        k = (
            np.mean((backbone - c["recons_k"]) ** 2) + np.mean((arrays[1]["backbone"] - arrays[1]["recons_k"]) ** 2)
        ) / 2
        four_k = (
            np.mean((backbone - c["recons_4k"]) ** 2) + np.mean((arrays[1]["backbone"] - arrays[1]["recons_4k"]) ** 2)
        ) / 2
        aux = (
            np_nmse(c["recons_aux"], backbone - c["pre_bias"])
            + np_nmse(arrays[1]["recons_aux"], arrays[1]["backbone"] - arrays[1]["pre_bias"])
        ) / 2
        return k + four_k / 8 + 0.4 * aux

    numeric = np.zeros_like(arrays[0]["backbone"])
    for index in np.ndindex(numeric.shape):
        step = np.zeros_like(numeric)
        step[index] = 1e-6
        plus = reconstruction_total(arrays[0]["backbone"] + step)
        minus = reconstruction_total(arrays[0]["backbone"] - step)
        numeric[index] = (plus - minus) / 2e-6
    np.testing.assert_allclose(features[0]["backbone"].grad.numpy(), numeric, rtol=1e-5, atol=1e-8)


def test_csr_loss_without_aux_output_and_with_dict_base_loss():
    class TwoTermLoss(nn.Module):
        def compute_loss_from_embeddings(self, embeddings, labels=None):
            return {"a": embeddings[0].sum(), "b": embeddings[1].sum()}

    rng = np.random.default_rng(4)
    model = StubCSRModel()
    features = [csr_column(rng, with_aux=False), csr_column(rng, with_aux=False)]
    terms = losses.CSRLoss(model, loss=TwoTermLoss(), gamma=2.0)(features)
    assert terms["reconstruction_loss_aux"].item() == 0.0
    assert terms["a"].item() == pytest.approx(2 * features[0]["emb"].sum().item())
    assert terms["b"].item() == pytest.approx(2 * features[1]["emb"].sum().item())


def test_csr_config_and_errors():
    model = StubCSRModel()
    loss = losses.CSRLoss(model)
    assert loss.get_config_dict() == {"beta": 0.1, "gamma": 1.0, "loss": "SparseMultipleNegativesRankingLoss"}
    assert loss.reconstruction_loss.beta == 0.1
    assert "wen2025" in loss.citation
    with pytest.raises(NotImplementedError, match="CSRLoss"):
        losses.CSRReconstructionLoss(model)(columns(QUERIES))
    with pytest.raises(ValueError, match="SparseAutoEncoder"):
        losses.CSRLoss(StubSparseModel())(columns(QUERIES, POSITIVES))
    with pytest.raises(ValueError, match="compute_loss_from_embeddings"):
        losses.CSRLoss(model, loss=nn.MSELoss())


# ------------------------------------------------------------------------------------------- weight scheduler
def scheduler_run(callback: SpladeRegularizerWeightSchedulerCallback, max_steps: int = 10) -> dict[int, tuple]:
    state = TrainerState(max_steps=max_steps)
    control = TrainerControl()
    callback.on_train_begin(None, state, control)
    weights = {-1: (callback.loss.document_regularizer_weight, callback.loss.query_regularizer_weight)}
    for step in range(max_steps):
        state.global_step = step
        callback.on_step_begin(None, state, control)
        weights[step] = (callback.loss.document_regularizer_weight, callback.loss.query_regularizer_weight)
    return weights


def test_scheduler_quadratic_by_default():
    model = StubSparseModel()
    loss = losses.SpladeLoss(model, losses.SparseMultipleNegativesRankingLoss(model), 0.3, 0.6)
    callback = SpladeRegularizerWeightSchedulerCallback(loss, warmup_ratio=0.5)
    assert callback.scheduler_type is SchedulerType.QUADRATIC
    weights = scheduler_run(callback)
    assert weights[-1] == (0.0, 0.0)
    # 5 warmup steps: step 2 -> (2/5)^2 of the full weights, step 5 and later -> the full weights
    assert weights[2][0] == pytest.approx(0.3 * 0.16) and weights[2][1] == pytest.approx(0.6 * 0.16)
    assert weights[5] == (0.3, 0.6) and weights[9] == (0.3, 0.6)
    logs = {}
    callback.on_log(None, TrainerState(), TrainerControl(), logs=logs)
    assert logs == {"document_regularizer_weight": 0.3, "query_regularizer_weight": 0.6}


def test_scheduler_linear_and_loss_changes_between_steps():
    model = StubSparseModel()
    loss = losses.SpladeLoss(model, losses.SparseMultipleNegativesRankingLoss(model), 0.3, 0.6)
    callback = SpladeRegularizerWeightSchedulerCallback(loss, scheduler_type="LINEAR", warmup_ratio=0.5)
    assert callback.scheduler_type is SchedulerType.LINEAR
    state, control = TrainerState(max_steps=10), TrainerControl()
    callback.on_train_begin(None, state, control)
    values = []
    for step in (1, 3):
        state.global_step = step
        callback.on_step_begin(None, state, control)
        values.append(loss(columns(QUERIES, POSITIVES))["document_regularizer_loss"].item())
    flops = np_flops(POSITIVES)[0]
    assert values == [pytest.approx(0.3 * 1 / 5 * flops), pytest.approx(0.3 * 3 / 5 * flops)]


def test_scheduler_without_query_weight_and_with_epoch_based_steps():
    model = StubSparseModel()
    loss = losses.SpladeLoss(model, losses.SparseMultipleNegativesRankingLoss(model), 0.4)
    callback = SpladeRegularizerWeightSchedulerCallback(loss, scheduler_type=SchedulerType.LINEAR, warmup_ratio=0.25)
    state = TrainerState(max_steps=0)
    state.num_update_steps_per_epoch, state.num_train_epochs = 4, 2  # 8 steps -> 2 warmup steps
    callback.on_train_begin(None, state, TrainerControl())
    assert callback.total_steps == 8 and callback.warmup_steps == 2
    state.global_step = 1
    callback.on_step_begin(None, state, TrainerControl())
    assert loss.document_regularizer_weight == pytest.approx(0.2) and loss.query_regularizer_weight is None
    logs = {}
    callback.on_log(None, state, TrainerControl(), logs=logs)
    assert logs == {"document_regularizer_weight": pytest.approx(0.2)}


def test_scheduler_falls_back_on_bad_settings_and_refuses_other_losses(caplog):
    model = StubSparseModel()
    loss = losses.SpladeLoss(model, losses.SparseMultipleNegativesRankingLoss(model), 0.3, 0.6)
    with caplog.at_level(logging.WARNING):
        callback = SpladeRegularizerWeightSchedulerCallback(loss, scheduler_type="cubic", warmup_ratio=1.5)
    assert callback.scheduler_type is SchedulerType.QUADRATIC
    assert callback.warmup_ratio == pytest.approx(1 / 3)
    assert "cubic" in caplog.text and "warmup_ratio" in caplog.text
    with pytest.raises(ValueError, match="SpladeLoss"):
        SpladeRegularizerWeightSchedulerCallback(losses.CSRLoss(model))
    # a CachedSpladeLoss is a SpladeLoss
    cached = losses.CachedSpladeLoss(model, losses.SparseMultipleNegativesRankingLoss(model), 0.3, 0.6)
    assert scheduler_run(SpladeRegularizerWeightSchedulerCallback(cached), max_steps=3)[-1] == (0.0, 0.0)


# --------------------------------------------------------------------------------------- a real SPLADE model
def test_splade_loss_trains_a_tiny_splade_model(tiny_mlm_dir: Path):
    from sentence_transformers.sparse_encoder import SparseEncoder

    model = SparseEncoder(str(tiny_mlm_dir), device="cpu")
    anchors = ["a cat sleeps", "two women", "the capital of france is paris"]
    positives = ["a sleeping cat", "women talking at a table", "paris"]
    features = [model.tokenize(anchors), model.tokenize(positives)]
    loss = losses.SpladeLoss(
        model,
        losses.SparseMultipleNegativesRankingLoss(model),
        document_regularizer_weight=3e-3,
        query_regularizer_weight=5e-3,
    )
    model.eval()  # no dropout: the cached loss below must give the same gradients
    terms = loss([dict(f) for f in features])
    assert set(terms) == {"base_loss", "document_regularizer_loss", "query_regularizer_loss"}
    assert all(torch.isfinite(value) and value.item() >= 0 for value in terms.values())
    total(terms).backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    assert grads and any(g.abs().sum() > 0 for g in grads.values())

    # the regularizer terms are the FLOPS of the model's own embeddings
    with torch.no_grad():
        queries = model(dict(features[0]))["sentence_embedding"]
    assert (queries >= 0).all()
    assert terms["query_regularizer_loss"].item() == pytest.approx(5e-3 * queries.mean(0).pow(2).sum().item(), rel=1e-5)

    model.zero_grad()
    cached = losses.CachedSpladeLoss(model, loss.loss, 3e-3, 5e-3, mini_batch_size=2)
    cached_terms = cached([dict(f) for f in features])
    assert total(cached_terms).item() == pytest.approx(total(terms).item(), rel=1e-5)
    total(cached_terms).backward()
    for name, grad in grads.items():
        torch.testing.assert_close(dict(model.named_parameters())[name].grad, grad, rtol=1e-4, atol=1e-6)


def test_csr_loss_trains_a_tiny_csr_model(tiny_bert_dir: Path):
    from sentence_transformers.sentence_transformer.modules import Pooling
    from sentence_transformers.sparse_encoder import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import SparseAutoEncoder, Transformer

    transformer = Transformer(str(tiny_bert_dir))
    dim = transformer.get_embedding_dimension()
    autoencoder = SparseAutoEncoder(dim, hidden_dim=4 * dim, k=4, k_aux=8)
    model = SparseEncoder(modules=[transformer, Pooling(dim), autoencoder], device="cpu")
    features = [model.tokenize(["a cat sleeps", "two women"]), model.tokenize(["a sleeping cat", "women talking"])]
    terms = losses.CSRLoss(model, beta=0.5)([dict(f) for f in features])
    assert list(terms) == ["reconstruction_loss_k", "reconstruction_loss_4k", "reconstruction_loss_aux", "base_loss"]
    assert all(torch.isfinite(value) for value in terms.values())
    total(terms).backward()
    assert autoencoder.encoder.weight.grad.abs().sum() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in transformer.parameters())
