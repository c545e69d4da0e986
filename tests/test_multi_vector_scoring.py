"""multi_vector_encoder.scoring (ColBERT and XTR) and util.similarity's MaxSim family, against explicit loops."""

from __future__ import annotations

import pytest
import torch

from sentence_transformers.multi_vector_encoder import scoring
from sentence_transformers.multi_vector_encoder.scoring import (
    XTRKDScores,
    XTRScores,
    colbert_kd_scores,
    colbert_scores,
    colbert_scores_pairwise,
    mean_colbert_kd_scores,
    mean_colbert_scores,
    mean_colbert_scores_pairwise,
    xtr_kd_scores,
    xtr_scores,
    xtr_scores_pairwise,
)
from sentence_transformers.util import maxsim, maxsim_pairwise, mean_maxsim

EMPTY = -1e9


def loop_maxsim(q: torch.Tensor, q_mask: torch.Tensor, d: torch.Tensor, d_mask: torch.Tensor) -> torch.Tensor:
    """sum over real query tokens (times their mask value) of the max over real document tokens, token by token."""
    if not d_mask.bool().any():
        return torch.tensor(EMPTY, dtype=q.dtype)
    total = q.new_zeros(())
    for i in range(len(q)):
        if q_mask[i] == 0:
            continue
        best = max(q[i] @ d[j] for j in range(len(d)) if d_mask[j])
        total = total + best * q_mask[i]
    return total


def loop_xtr(q: torch.Tensor, q_mask: torch.Tensor, docs: torch.Tensor, d_mask: torch.Tensor, k: int) -> torch.Tensor:
    """XTR by the paper: (Q, n_docs) scores from (Q, S, H) queries and (n_docs, T, H) documents."""
    out = torch.zeros(len(q), len(docs), dtype=q.dtype)
    real = [(d, t) for d in range(len(docs)) for t in range(docs.shape[1]) if d_mask[d, t]]
    for a in range(len(q)):
        per_doc = [[] for _ in docs]
        for i in range(q.shape[1]):
            if not q_mask[a, i]:
                continue
            sims = torch.stack([q[a, i] @ docs[d, t] for d, t in real])
            chosen = sims.topk(min(k, len(real))).indices.tolist()
            best: dict[int, torch.Tensor] = {}
            for c in chosen:
                d = real[c][0]
                best[d] = sims[c] if d not in best else torch.maximum(best[d], sims[c])
            for d, value in best.items():
                per_doc[d].append(value * q_mask[a, i])
        for d in range(len(docs)):
            if not d_mask[d].any():
                out[a, d] = EMPTY
            elif per_doc[d]:
                out[a, d] = torch.stack(per_doc[d]).sum() / len(per_doc[d])
    return out


@pytest.fixture
def batch() -> dict[str, torch.Tensor]:
    """Three queries with three candidates each, padded, with one document without real tokens."""
    g = torch.Generator().manual_seed(0)
    q, n, s, t, h = 3, 3, 4, 5, 6
    q_mask = torch.rand(q, s, generator=g) > 0.3
    q_mask[:, 0] = True
    d_mask = torch.rand(q, n, t, generator=g) > 0.3
    d_mask[..., 0] = True
    d_mask[1, 2] = False
    return {
        "q": torch.randn(q, s, h, generator=g, dtype=torch.float64),
        "d": torch.randn(q, n, t, h, generator=g, dtype=torch.float64),
        "q_mask": q_mask,
        "d_mask": d_mask,
    }


def test_scoring_exports_upstream_names() -> None:
    assert sorted(scoring.__all__) == sorted(
        [
            "colbert_scores",
            "colbert_scores_pairwise",
            "colbert_kd_scores",
            "mean_colbert_scores",
            "mean_colbert_scores_pairwise",
            "mean_colbert_kd_scores",
            "XTRScores",
            "XTRKDScores",
            "xtr_scores",
            "xtr_scores_pairwise",
            "xtr_kd_scores",
        ]
    )


def test_colbert_hand_example() -> None:
    # q1=(1,0) q2=(0,1); doc tokens (1,0) and (0.5,0.5): max(1, .5) + max(0, .5) = 1.5; the other doc (-1,0) gives
    # -1 + 0 = -1. With the mean: 0.75 and -0.5.
    q = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    d = torch.tensor([[[[1.0, 0.0], [0.5, 0.5]], [[-1.0, 0.0], [0.0, 0.0]]]])
    torch.testing.assert_close(colbert_scores(q, d), torch.tensor([[1.5, -1.0]]))
    torch.testing.assert_close(mean_colbert_scores(q, d), torch.tensor([[0.75, -0.5]]))
    torch.testing.assert_close(colbert_kd_scores(q, d), torch.tensor([[1.5, -1.0]]))
    torch.testing.assert_close(colbert_scores_pairwise(q, d[:, 1]), torch.tensor([-1.0]))


def test_colbert_scores_match_loop(batch: dict[str, torch.Tensor]) -> None:
    q, d, qm, dm = batch["q"], batch["d"], batch["q_mask"], batch["d_mask"]
    scores = colbert_scores(q, d, qm, dm)
    assert scores.shape == (3, 9) and scores.dtype == torch.float32
    for i in range(3):
        for j in range(3):
            for n in range(3):
                expected = loop_maxsim(q[i], qm[i], d[j, n], dm[j, n]).float()
                torch.testing.assert_close(scores[i, j * 3 + n], expected)
    counts = qm.sum(dim=1, keepdim=True).float()
    normalized = mean_colbert_scores(q, d, qm, dm)
    real = dm.reshape(9, -1).any(dim=1)
    torch.testing.assert_close(normalized[:, real], (scores / counts)[:, real])
    torch.testing.assert_close(colbert_scores(q, d, qm, dm, length_normalize=True), normalized)
    torch.testing.assert_close(mean_colbert_scores(q, d, qm, dm, length_normalize=False), scores)


def test_colbert_kd_and_pairwise_match_loop(batch: dict[str, torch.Tensor]) -> None:
    q, d, qm, dm = batch["q"], batch["d"], batch["q_mask"], batch["d_mask"]
    kd = colbert_kd_scores(q, d, qm, dm)
    full = colbert_scores(q, d, qm, dm)
    assert kd.shape == (3, 3)
    for i in range(3):
        torch.testing.assert_close(kd[i], full[i, i * 3 : i * 3 + 3])
    pairwise = colbert_scores_pairwise(q, d[:, 0], qm, dm[:, 0])
    torch.testing.assert_close(pairwise, kd[:, 0])
    counts = qm.sum(dim=1).float()
    torch.testing.assert_close(mean_colbert_scores_pairwise(q, d[:, 0], qm, dm[:, 0]), pairwise / counts)
    torch.testing.assert_close(mean_colbert_kd_scores(q, d, qm, dm)[:, 0], kd[:, 0] / counts)


def test_colbert_chunking_and_zero_row_padding_change_nothing(batch: dict[str, torch.Tensor]) -> None:
    q, d, qm, dm = batch["q"], batch["d"], batch["q_mask"], batch["d_mask"]
    reference = colbert_scores(q, d, qm, dm)
    for budget in (1, 7, 40, 10_000):
        torch.testing.assert_close(colbert_scores(q, d, qm, dm, chunk_elements=budget), reference)
        torch.testing.assert_close(colbert_kd_scores(q, d, qm, dm, chunk_elements=budget)[0], reference[0, :3])
    # No masks: all-zero token rows read as padding.
    zero_padded = colbert_scores(q * qm.unsqueeze(-1), d * dm.unsqueeze(-1))
    torch.testing.assert_close(zero_padded, reference)


def test_empty_document_scores_below_everything(batch: dict[str, torch.Tensor]) -> None:
    scores = colbert_scores(batch["q"], batch["d"], batch["q_mask"], batch["d_mask"])
    assert torch.all(scores[:, 1 * 3 + 2] == EMPTY)
    assert torch.all(scores[:, [0, 1, 2, 3, 4, 6, 7, 8]] > EMPTY)


def test_float_query_mask_weights_tokens() -> None:
    q = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    d = torch.tensor([[[2.0, 3.0]]])
    weights = torch.tensor([[0.5, 2.0]])
    # 0.5 * 2 + 2.0 * 3 = 7; the MeanMaxSim divisor counts non-zero entries (2).
    torch.testing.assert_close(maxsim(q, d, a_mask=weights), torch.tensor([[7.0]]))
    torch.testing.assert_close(maxsim_pairwise(q, d, a_mask=weights), torch.tensor([7.0]))
    torch.testing.assert_close(mean_maxsim(q, d, a_mask=weights), torch.tensor([[3.5]]))
    torch.testing.assert_close(colbert_scores(q, d.unsqueeze(1), weights), torch.tensor([[7.0]]))


def test_colbert_gradients_match_loop(batch: dict[str, torch.Tensor]) -> None:
    q, d, qm, dm = batch["q"], batch["d"], batch["q_mask"], batch["d_mask"]
    weights = torch.randn(3, 9, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    q1, d1 = q.clone().requires_grad_(), d.clone().requires_grad_()
    real = dm.reshape(9, -1).any(dim=1)
    (colbert_scores(q1, d1, qm, dm).double() * weights)[:, real].sum().backward()
    q2, d2 = q.clone().requires_grad_(), d.clone().requires_grad_()
    total = q.new_zeros(())
    for i in range(3):
        for c in range(9):
            if real[c]:
                total = total + weights[i, c] * loop_maxsim(q2[i], qm[i], d2[c // 3, c % 3], dm[c // 3, c % 3])
    total.backward()
    # The scores are float32 by contract, so the upstream gradient passes through a float32 cast.
    torch.testing.assert_close(q1.grad, q2.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(d1.grad, d2.grad, rtol=1e-5, atol=1e-5)


def test_colbert_rejects_wrong_shapes(batch: dict[str, torch.Tensor]) -> None:
    with pytest.raises(ValueError, match="n_ways"):
        colbert_scores(batch["q"], batch["d"][:, 0])
    with pytest.raises(ValueError, match="batch"):
        colbert_kd_scores(batch["q"][:2], batch["d"])


def test_xtr_hand_example() -> None:
    # Query tokens (1,0) and (0,1); doc A tokens (1,0),(0,.2); doc B tokens (.9,.1),(0,.8). With top_k=1 token 1
    # retrieves A's (1,0) (sim 1), token 2 retrieves B's (0,.8) (sim .8): A = 1/1, B = .8/1.
    q = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    d = torch.tensor([[[[1.0, 0.0], [0.0, 0.2]], [[0.9, 0.1], [0.0, 0.8]]]])
    torch.testing.assert_close(xtr_scores(q, d, top_k=1), torch.tensor([[1.0, 0.8]]))
    # top_k=2: token 1 gets A(1) and B(.9); token 2 gets B(.8) and A(.2). A = (1 + .2)/2, B = (.9 + .8)/2.
    torch.testing.assert_close(xtr_scores(q, d, top_k=2), torch.tensor([[0.6, 0.85]]))
    # top_k=3: token 1 adds B's (0,.8) at 0 (B's max stays .9); token 2 adds B's (.9,.1) at .1 (max stays .8).
    torch.testing.assert_close(xtr_scores(q, d, top_k=3), torch.tensor([[0.6, 0.85]]))


@pytest.mark.parametrize("top_k", [1, 3, 7, 1000])
def test_xtr_matches_loop(batch: dict[str, torch.Tensor], top_k: int) -> None:
    q, d, qm, dm = batch["q"], batch["d"], batch["q_mask"], batch["d_mask"]
    expected = loop_xtr(q, qm, d.reshape(9, 5, 6), dm.reshape(9, 5), top_k).float()
    scores = xtr_scores(q, d, qm, dm, top_k=top_k)
    assert scores.dtype == torch.float32
    torch.testing.assert_close(scores, expected)
    for budget in (1, 50, 400):
        torch.testing.assert_close(xtr_scores(q, d, qm, dm, top_k=top_k, chunk_elements=budget), expected)
    kd = xtr_kd_scores(q, d, qm, dm, top_k=top_k)
    torch.testing.assert_close(kd, torch.stack([expected[i, i * 3 : i * 3 + 3] for i in range(3)]))
    torch.testing.assert_close(XTRScores(top_k, chunk_elements=60)(q, d, qm, dm), expected)
    torch.testing.assert_close(XTRKDScores(top_k)(q, d, qm, dm), kd)


def test_xtr_pairwise_and_zero_row_padding(batch: dict[str, torch.Tensor]) -> None:
    q, d, qm, dm = batch["q"], batch["d"][:, 0], batch["q_mask"], batch["d_mask"][:, 0]
    expected = loop_xtr(q, qm, d, dm, 4).float().diagonal()
    torch.testing.assert_close(xtr_scores_pairwise(q, d, qm, dm, top_k=4), expected)
    torch.testing.assert_close(xtr_scores_pairwise(q * qm.unsqueeze(-1), d * dm.unsqueeze(-1), top_k=4), expected)


def test_xtr_integer_inputs_and_empty_document() -> None:
    q = torch.tensor([[[2, 0], [0, 1]]], dtype=torch.int8)
    d = torch.tensor([[[[1, 0], [0, 0]], [[0, 0], [0, 0]]]], dtype=torch.int8)
    scores = xtr_scores(q, d, top_k=5)
    # Doc 1 has one real token (1,0): token 1 scores 2, token 2 scores 0; both retrieved it, so Z = 2.
    torch.testing.assert_close(scores, torch.tensor([[1.0, EMPTY]]))


def test_xtr_gradients_match_loop(batch: dict[str, torch.Tensor]) -> None:
    q, d, qm, dm = batch["q"], batch["d"], batch["q_mask"], batch["d_mask"]
    real = dm.reshape(9, -1).any(dim=1)
    q1, d1 = q.clone().requires_grad_(), d.clone().requires_grad_()
    xtr_scores(q1, d1, qm, dm, top_k=6, chunk_elements=100)[:, real].double().sum().backward()
    q2, d2 = q.clone().requires_grad_(), d.clone().requires_grad_()
    loop_xtr(q2, qm, d2.reshape(9, 5, 6), dm.reshape(9, 5), 6)[:, real].sum().backward()
    torch.testing.assert_close(q1.grad, q2.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(d1.grad, d2.grad, rtol=1e-5, atol=1e-5)
    assert q1.grad.abs().sum() > 0 and d1.grad.abs().sum() > 0


@pytest.mark.parametrize("bad", [0, -3, True, 2.5])
def test_xtr_rejects_bad_top_k(batch: dict[str, torch.Tensor], bad: object) -> None:
    with pytest.raises(ValueError, match="top_k"):
        xtr_scores(batch["q"], batch["d"], top_k=bad)


def test_xtr_callables_keep_their_settings() -> None:
    fn = XTRKDScores(12, chunk_elements=99)
    assert isinstance(fn, XTRScores)
    assert fn.get_config_dict() == {"top_k": 12, "chunk_elements": 99}
    assert XTRScores().get_config_dict() == {"top_k": 256, "chunk_elements": None}


def test_maxsim_ragged_documents_scored_chunk_by_chunk() -> None:
    g = torch.Generator().manual_seed(3)
    queries = [torch.randn(n, 4, generator=g) for n in (2, 5)]
    docs = [torch.randn(n, 4, generator=g) for n in (3, 0, 7, 1, 4, 2)]
    expected = torch.tensor(
        [[float(loop_maxsim(q, torch.ones(len(q)), d, torch.ones(len(d)))) for d in docs] for q in queries]
    )
    for budget in (None, 1, 30, 200):
        torch.testing.assert_close(maxsim(queries, docs, chunk_elements=budget), expected)
    # A padded global mask for a ragged list is cut to each chunk's width; here it hides doc 2's last 4 tokens.
    b_mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(d), dtype=torch.bool) for d in docs], batch_first=True)
    b_mask[2, 3:] = False
    masked = maxsim(queries, docs, b_mask=b_mask, chunk_elements=30)
    torch.testing.assert_close(masked[:, 2], maxsim(queries, [docs[2][:3]])[:, 0])
    torch.testing.assert_close(masked[:, [0, 1, 3, 4, 5]], expected[:, [0, 1, 3, 4, 5]])
    with pytest.raises(ValueError, match="b_mask"):
        maxsim(queries, docs, b_mask=b_mask[:, :5])
