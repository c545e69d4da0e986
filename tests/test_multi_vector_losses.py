"""MultiVectorEncoder losses: values and gradients against MaxSim written out as loops, on a tiny token table."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sentence_transformers.multi_vector_encoder.losses import (
    CachedMultiVectorMultipleNegativesRankingLoss,
    MultiVectorDistillKLDivLoss,
    MultiVectorMarginMSELoss,
    MultiVectorMultipleNegativesRankingLoss,
)
from sentence_transformers.multi_vector_encoder.scoring import (
    colbert_kd_scores,
    colbert_scores,
    colbert_scores_pairwise,
    mean_colbert_scores,
)

# token id -> 2-d vector; id 0 is padding (masked out)
TABLE = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0], [0.5, -1.0], [-1.0, 0.5]]
# the same table, perturbed so that no MaxSim has two equally good document tokens (the gradient of a tied max
# depends on which token the implementation picks)
NOISY = (torch.tensor(TABLE) + 0.1 * torch.randn(len(TABLE), 2, generator=torch.Generator().manual_seed(0))).tolist()


class TokenTable(nn.Module):
    """A stand-in MultiVectorEncoder: each token id looks up a trainable vector; it records the tasks it ran."""

    def __init__(self, table: list[list[float]] = TABLE) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.tensor(table))
        self.tasks: list[str | None] = []

    def forward(self, features: dict, task: str | None = None) -> dict:
        self.tasks.append(task)
        return {"token_embeddings": self.table[features["input_ids"]], "attention_mask": features["attention_mask"]}


def column(*rows: list[int], task: str | None = None) -> dict:
    """Right-padded features of token-id rows."""
    width = max(len(row) for row in rows)
    ids = torch.tensor([row + [0] * (width - len(row)) for row in rows])
    features = {"input_ids": ids, "attention_mask": (ids != 0).long()}
    if task is not None:
        features["task"] = task
    return features


def maxsim_loop(table: torch.Tensor, query: list[int], document: list[int]) -> torch.Tensor:
    """sum over query tokens of the best dot product with a document token, written out."""
    total = table.new_zeros(())
    for q in query:
        total = total + torch.stack([table[q] @ table[d] for d in document]).max()
    return total


QUERIES = [[1, 2], [3]]
POSITIVES = [[1, 4], [2]]
NEGATIVES = [[5, 6, 2], [6]]


def test_mnrl_value_by_hand():
    # scores: q0·d0 = 2, q0·d1 = 1, q1·d0 = 2, q1·d1 = 1 -> CE rows: log(1 + e^-1), log(1 + e)
    model = TokenTable()
    loss = MultiVectorMultipleNegativesRankingLoss(model)
    value = loss([column(*QUERIES), column(*POSITIVES)])
    expected = (math.log(1 + math.exp(-1)) + math.log(1 + math.e)) / 2
    assert value.item() == pytest.approx(expected, abs=1e-6)


def reference_mnrl(table: torch.Tensor, columns: list[list[list[int]]], scale: float) -> torch.Tensor:
    """The in-batch loss with loops: candidates ordered row by row, column by column; positive of i at i * N."""
    queries, documents = columns[0], columns[1:]
    n = len(documents)
    losses = []
    for i, query in enumerate(queries):
        scores = torch.stack([maxsim_loop(table, query, col[r]) for r in range(len(queries)) for col in documents])
        losses.append(-F.log_softmax(scores * scale, dim=0)[i * n])
    return torch.stack(losses).mean()


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_mnrl_with_hard_negatives_matches_loops_in_value_and_gradient(scale):
    model = TokenTable(NOISY)
    value = MultiVectorMultipleNegativesRankingLoss(model, scale=scale)(
        [column(*QUERIES), column(*POSITIVES), column(*NEGATIVES)]
    )
    value.backward()
    reference_table = torch.tensor(NOISY, requires_grad=True)
    expected = reference_mnrl(reference_table, [QUERIES, POSITIVES, NEGATIVES], scale)
    expected.backward()
    assert value.item() == pytest.approx(expected.item(), abs=1e-6)
    torch.testing.assert_close(model.table.grad, reference_table.grad, atol=1e-6, rtol=1e-5)


def test_mnrl_chunking_options_do_not_change_the_loss():
    columns = [column(*QUERIES), column(*POSITIVES), column(*NEGATIVES)]
    plain = MultiVectorMultipleNegativesRankingLoss(TokenTable())(columns)
    chunked = MultiVectorMultipleNegativesRankingLoss(TokenTable(), mini_batch_size=1, score_mini_batch_size=1)(columns)
    assert chunked.item() == pytest.approx(plain.item(), abs=1e-6)


def test_mnrl_runs_query_and_document_tasks_unless_the_collator_stamped_one():
    model = TokenTable()
    MultiVectorMultipleNegativesRankingLoss(model)([column(*QUERIES), column(*POSITIVES), column(*NEGATIVES)])
    assert model.tasks == ["query", "document"]  # the two document columns share one merged forward pass
    model.tasks.clear()
    MultiVectorMultipleNegativesRankingLoss(model)([column(*QUERIES, task="q2"), column(*POSITIVES, task="d2")])
    assert model.tasks == ["q2", "d2"]


def test_mnrl_uses_the_given_similarity_fct():
    model = TokenTable()
    columns = [column(*QUERIES), column(*POSITIVES)]
    value = MultiVectorMultipleNegativesRankingLoss(model, similarity_fct=mean_colbert_scores)(columns)
    # MeanMaxSim divides by the query's real token count: q0 scores [1, 0.5], q1 scores [2, 1]
    expected = (math.log(1 + math.exp(-0.5)) + math.log(1 + math.e)) / 2
    assert value.item() == pytest.approx(expected, abs=1e-6)


def test_mnrl_config_and_citation():
    loss = MultiVectorMultipleNegativesRankingLoss(TokenTable(), scale=2.0, mini_batch_size=8)
    assert loss.similarity_fct is colbert_scores
    assert loss.get_config_dict() == {
        "scale": 2.0,
        "similarity_fct": "colbert_scores",
        "mini_batch_size": 8,
        "score_mini_batch_size": None,
        "gather_across_devices": False,
    }
    assert "henderson2017efficient" in loss.citation
    with pytest.raises(ValueError, match="scale"):
        MultiVectorMultipleNegativesRankingLoss(TokenTable(), scale=0)


@pytest.mark.parametrize("mini_batch_size,score_mini_batch_size", [(1, 1), (2, None), (1, 2)])
def test_cached_mnrl_equals_the_plain_loss_in_value_and_gradient(mini_batch_size, score_mini_batch_size):
    columns = [column(*QUERIES), column(*POSITIVES), column(*NEGATIVES)]
    plain_model, cached_model = TokenTable(NOISY), TokenTable(NOISY)
    plain = MultiVectorMultipleNegativesRankingLoss(plain_model, scale=2.0)(columns)
    plain.backward()
    cached = CachedMultiVectorMultipleNegativesRankingLoss(
        cached_model, scale=2.0, mini_batch_size=mini_batch_size, score_mini_batch_size=score_mini_batch_size
    )(columns)
    assert cached_model.table.grad is None  # the model's backward waits for loss.backward()
    cached.backward()
    assert cached.item() == pytest.approx(plain.item(), abs=1e-6)
    torch.testing.assert_close(cached_model.table.grad, plain_model.table.grad, atol=1e-6, rtol=1e-5)
    assert set(cached_model.tasks) == {"query", "document"}


def test_cached_mnrl_without_gradients_returns_the_loss():
    columns = [column(*QUERIES), column(*POSITIVES)]
    with torch.no_grad():
        value = CachedMultiVectorMultipleNegativesRankingLoss(TokenTable(), mini_batch_size=1)(columns)
    expected = (math.log(1 + math.exp(-1)) + math.log(1 + math.e)) / 2
    assert value.item() == pytest.approx(expected, abs=1e-6)


def test_cached_mnrl_config_and_checks():
    loss = CachedMultiVectorMultipleNegativesRankingLoss(TokenTable(), mini_batch_size=4)
    assert loss.get_config_dict() == {
        "scale": 1.0,
        "similarity_fct": "colbert_scores",
        "mini_batch_size": 4,
        "mini_batch_num_tokens": None,
        "score_mini_batch_size": 4,
        "gather_across_devices": False,
    }
    assert "gao2021scaling" in loss.citation
    assert loss.uses_gradient_cache
    with pytest.raises(ValueError, match="mini_batch_num_tokens"):
        CachedMultiVectorMultipleNegativesRankingLoss(TokenTable(), mini_batch_num_tokens=0)
    with pytest.raises(ValueError, match="scale"):
        CachedMultiVectorMultipleNegativesRankingLoss(TokenTable(), scale=-1.0)


def kl_by_hand(student: list[float], teacher: list[float], t_student: float, t_teacher: float) -> float:
    """sum p_t * (log p_t - log p_s) * t_student^2 for one query."""
    p_s = [math.exp(s / t_student) for s in student]
    p_t = [math.exp(t / t_teacher) for t in teacher]
    p_s = [p / sum(p_s) for p in p_s]
    p_t = [p / sum(p_t) for p in p_t]
    return sum(t * (math.log(t) - math.log(s)) for s, t in zip(p_s, p_t, strict=True)) * t_student**2


@pytest.mark.parametrize("temperatures", [{}, {"temperature": 2.0}, {"student_temperature": 0.5}])
def test_distill_kl_div_by_hand(temperatures):
    # student MaxSim scores: q0 vs (d0, neg0) = (2, 1.5); q1 vs (d1, neg1) = (1, -0.5)
    model = TokenTable()
    loss = MultiVectorDistillKLDivLoss(model, **temperatures)
    teacher = torch.tensor([[3.0, 1.0], [0.5, 2.0]])
    value = loss([column(*QUERIES), column(*POSITIVES), column(*NEGATIVES)], teacher)
    t_s, t_t = loss.student_temperature, loss.teacher_temperature
    expected = (kl_by_hand([2, 1.5], [3, 1], t_s, t_t) + kl_by_hand([1, -0.5], [0.5, 2], t_s, t_t)) / 2
    assert value.item() == pytest.approx(expected, abs=1e-6)


def test_distill_kl_div_gradient_matches_loops():
    model = TokenTable(NOISY)
    teacher = torch.tensor([[3.0, 1.0], [0.5, 2.0]])
    MultiVectorDistillKLDivLoss(model)([column(*QUERIES), column(*POSITIVES), column(*NEGATIVES)], teacher).backward()
    table = torch.tensor(NOISY, requires_grad=True)
    student = torch.stack(
        [
            torch.stack([maxsim_loop(table, q, p), maxsim_loop(table, q, n)])
            for q, p, n in zip(QUERIES, POSITIVES, NEGATIVES, strict=True)
        ]
    )
    F.kl_div(F.log_softmax(student, -1), F.log_softmax(teacher, -1), reduction="batchmean", log_target=True).backward()
    torch.testing.assert_close(model.table.grad, table.grad, atol=1e-6, rtol=1e-5)


def test_distill_kl_div_checks_and_config():
    loss = MultiVectorDistillKLDivLoss(TokenTable(), teacher_temperature=0.5)
    assert loss.similarity_fct is colbert_kd_scores
    assert loss.get_config_dict() == {
        "similarity_fct": "colbert_kd_scores",
        "temperature": 1.0,
        "teacher_temperature": 0.5,
        "mini_batch_size": None,
    }
    assert "colbertv2" in loss.citation
    with pytest.raises(ValueError, match="at least 2 candidate"):
        loss([column(*QUERIES), column(*POSITIVES)], torch.zeros(2, 1))
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        loss([column(*QUERIES), column(*POSITIVES), column(*NEGATIVES)], torch.zeros(2, 3))
    with pytest.raises(ValueError, match="student_temperature"):
        MultiVectorDistillKLDivLoss(TokenTable(), student_temperature=0.0)
    with pytest.raises(ValueError, match="NaN"):
        MultiVectorDistillKLDivLoss(TokenTable())(
            [column(*QUERIES), column(*POSITIVES), column(*NEGATIVES)], torch.tensor([[float("nan"), 1.0]] * 2)
        )


@pytest.mark.parametrize(
    "labels",
    [torch.tensor([0.5, 2.0]), torch.tensor([[0.5], [2.0]]), torch.tensor([[3.0, 2.5], [1.0, -1.0]])],
    ids=["flat-margins", "margins", "raw-scores"],
)
def test_margin_mse_by_hand(labels):
    # student margins: q0: 2 - 1.5 = 0.5, q1: 1 - (-0.5) = 1.5; teacher margins 0.5 and 2.0
    model = TokenTable()
    value = MultiVectorMarginMSELoss(model)([column(*QUERIES), column(*POSITIVES), column(*NEGATIVES)], labels)
    assert value.item() == pytest.approx((0.0**2 + (1.5 - 2.0) ** 2) / 2, abs=1e-6)
    model = TokenTable(NOISY)
    MultiVectorMarginMSELoss(model)([column(*QUERIES), column(*POSITIVES), column(*NEGATIVES)], labels).backward()
    table = torch.tensor(NOISY, requires_grad=True)
    margins = torch.stack(
        [
            maxsim_loop(table, q, p) - maxsim_loop(table, q, n)
            for q, p, n in zip(QUERIES, POSITIVES, NEGATIVES, strict=True)
        ]
    )
    F.mse_loss(margins, torch.tensor([0.5, 2.0])).backward()
    torch.testing.assert_close(model.table.grad, table.grad, atol=1e-6, rtol=1e-5)


def test_margin_mse_with_two_negatives_and_bad_labels():
    model = TokenTable()
    columns = [column(*QUERIES), column(*POSITIVES), column(*NEGATIVES), column(*POSITIVES)]
    # second negative = the positive: margins (0.5, 0) for q0 and (1.5, 0) for q1; teacher margins all 1
    value = MultiVectorMarginMSELoss(model)(columns, torch.ones(2, 2))
    assert value.item() == pytest.approx(((0.5 - 1) ** 2 + 1 + (1.5 - 1) ** 2 + 1) / 4, abs=1e-6)
    with pytest.raises(ValueError, match="1-D labels"):
        MultiVectorMarginMSELoss(model)(columns, torch.ones(2))
    with pytest.raises(ValueError, match="shape"):
        MultiVectorMarginMSELoss(model)(columns, torch.ones(2, 4))
    with pytest.raises(ValueError, match="query, positive, negative"):
        MultiVectorMarginMSELoss(model)(columns[:2], torch.ones(2))
    loss = MultiVectorMarginMSELoss(model, similarity_fct=partial(colbert_scores_pairwise))
    assert loss.get_config_dict() == {"similarity_fct": "colbert_scores_pairwise", "mini_batch_size": None}
    assert MultiVectorMarginMSELoss(model).similarity_fct is colbert_scores_pairwise
    assert "hofstaetter2020improving" in loss.citation


def test_mnrl_gathered_across_ranks_scores_every_ranks_documents(monkeypatch):
    # as rank 1 of 2, where rank 0 holds NEGATIVES as its positives: candidates are (neg0, neg1, pos0, pos1)
    import sentence_transformers.multi_vector_encoder.losses.multiple_negatives_ranking as module
    from sentence_transformers.util.tensor import cat_padded_token_embeddings

    model = TokenTable()
    other = column(*NEGATIVES)
    other_embeddings = model.table[other["input_ids"]].detach()

    def fake_gather(tensor, mask, with_grad=False):
        return cat_padded_token_embeddings([other_embeddings, tensor], [other["attention_mask"].bool(), mask])

    monkeypatch.setattr(module, "all_gather_padded", fake_gather)
    monkeypatch.setattr(module, "get_rank", lambda: 1)
    # q0 scores (1.5, -0.5, 2, 1), positive 2; q1 scores (1, -0.5, 2, 1), positive the last 1
    row0 = -math.log(math.exp(2) / sum(math.exp(s) for s in (1.5, -0.5, 2, 1)))
    row1 = -math.log(math.exp(1) / sum(math.exp(s) for s in (1, -0.5, 2, 1)))
    for loss in (
        MultiVectorMultipleNegativesRankingLoss(model, gather_across_devices=True),
        CachedMultiVectorMultipleNegativesRankingLoss(model, mini_batch_size=1, gather_across_devices=True),
    ):
        value = loss([column(*QUERIES), column(*POSITIVES)])
        assert value.item() == pytest.approx((row0 + row1) / 2, abs=1e-6)
