"""CrossEncoder losses: values and gradients on chosen logits against hand-worked numbers, errors, configs.

Most tests replace the model's ``preprocess``/``forward`` so that each (query, document) pair gets a chosen logit
from a leaf tensor; the loss then sees known scores, and the gradient it leaves on that tensor is compared with the
derivative worked out here in numpy. A few tests run the real tiny BERT CrossEncoder end to end.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from sentence_transformers.cross_encoder import CrossEncoder, losses

T = torch.tensor


@pytest.fixture()
def model(tiny_bert_dir) -> CrossEncoder:
    torch.manual_seed(0)
    return CrossEncoder(str(tiny_bert_dir), num_labels=1, device="cpu")


@pytest.fixture()
def model3(tiny_bert_dir) -> CrossEncoder:
    torch.manual_seed(0)
    return CrossEncoder(str(tiny_bert_dir), num_labels=3, device="cpu")


class FixedScores:
    """Make ``model`` score each (query, document) pair with a chosen logit row, kept in a leaf tensor."""

    def __init__(self, model: CrossEncoder, scores: dict[tuple[str, str], float | list[float]]) -> None:
        self.index = {pair: i for i, pair in enumerate(scores)}
        rows = [value if isinstance(value, list) else [value] for value in scores.values()]
        self.table = torch.tensor(rows, dtype=torch.float32, requires_grad=True)
        self.calls: list[tuple[list[tuple[str, str]], str | None, str | None]] = []
        model.preprocess = self.preprocess
        model.forward = self.forward

    def preprocess(self, pairs, prompt=None, task=None):
        pairs = [tuple(pair) for pair in pairs]
        self.calls.append((pairs, prompt, task))
        return {"ids": torch.tensor([self.index[pair] for pair in pairs])}

    def forward(self, features):
        return {"scores": self.table[features["ids"]]}

    def grad(self, pair: tuple[str, str]) -> np.ndarray:
        return self.table.grad[self.index[pair]].numpy()


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def softmax(x):
    e = np.exp(np.asarray(x, dtype=np.float64) - np.max(x))
    return e / e.sum()


# ---------------------------------------------------------------------------------------------------------------------
# pointwise losses


def test_binary_cross_entropy_value_and_gradient(model):
    logits, labels = [0.5, -1.0, 2.0], [1.0, 0.0, 1.0]
    fixed = FixedScores(model, {("q1", "d1"): 0.5, ("q2", "d2"): -1.0, ("q3", "d3"): 2.0})
    loss = losses.BinaryCrossEntropyLoss(model)([["q1", "q2", "q3"], ["d1", "d2", "d3"]], T(labels))
    loss.backward()
    p = sigmoid(logits)
    expected = np.mean([-math.log(p[0]), -math.log(1 - p[1]), -math.log(p[2])])
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    for (pair, s), y in zip(zip(fixed.index, p, strict=True), labels, strict=True):
        assert fixed.grad(pair)[0] == pytest.approx((s - y) / 3, rel=1e-5)


def test_binary_cross_entropy_pos_weight_and_activation(model):
    fixed = FixedScores(model, {("q1", "d1"): 0.3, ("q2", "d2"): -0.8})
    loss_fn = losses.BinaryCrossEntropyLoss(model, activation_fn=nn.Tanh(), pos_weight=T(3.0))
    loss = loss_fn([["q1", "q2"], ["d1", "d2"]], T([1, 0]))
    loss.backward()
    x = np.tanh([0.3, -0.8])
    p = sigmoid(x)
    assert loss.item() == pytest.approx((-3 * math.log(p[0]) - math.log(1 - p[1])) / 2, rel=1e-6)
    # d/ds: pos_weight * (p - 1) for a positive, p for a negative, times tanh' and 1/n
    assert fixed.grad(("q1", "d1"))[0] == pytest.approx(3 * (p[0] - 1) * (1 - x[0] ** 2) / 2, rel=1e-5)
    assert fixed.grad(("q2", "d2"))[0] == pytest.approx(p[1] * (1 - x[1] ** 2) / 2, rel=1e-5)
    assert loss_fn.get_config_dict() == {"activation_fn": "torch.nn.modules.activation.Tanh", "pos_weight": 3.0}


def test_cross_entropy_value_gradient_and_label_column(model3):
    rows = {("a", "b"): [1.0, 0.0, -1.0], ("c", "d"): [0.2, 0.4, 2.0]}
    fixed = FixedScores(model3, rows)
    loss_fn = losses.CrossEntropyLoss(model3)
    loss = loss_fn([["a", "c"], ["b", "d"]], T([[0], [1]]))  # class indices as a column are flattened
    loss.backward()
    probs = [softmax(r) for r in rows.values()]
    expected = -(math.log(probs[0][0]) + math.log(probs[1][1])) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(fixed.grad(("a", "b")), (probs[0] - [1, 0, 0]) / 2, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(fixed.grad(("c", "d")), (probs[1] - [0, 1, 0]) / 2, rtol=1e-5, atol=1e-7)
    assert not hasattr(loss_fn, "get_config_dict")  # as upstream: the card shows no settings for it


def test_mse_with_sigmoid_value_and_gradient(model):
    fixed = FixedScores(model, {("q1", "d1"): 1.0, ("q2", "d2"): -2.0})
    loss = losses.MSELoss(model, activation_fn=nn.Sigmoid())([["q1", "q2"], ["d1", "d2"]], T([0.2, 0.9]))
    loss.backward()
    p = sigmoid([1.0, -2.0])
    err = p - [0.2, 0.9]
    assert loss.item() == pytest.approx(np.mean(err**2), rel=1e-6)
    assert fixed.grad(("q1", "d1"))[0] == pytest.approx(err[0] * p[0] * (1 - p[0]), rel=1e-5)  # 2 * e * s' / 2
    assert fixed.grad(("q2", "d2"))[0] == pytest.approx(err[1] * p[1] * (1 - p[1]), rel=1e-5)


@pytest.mark.parametrize(
    "labels",
    [
        T([[1.0, 2.0], [0.5, -1.0]]),  # margins, one per negative
        T([[3.0, 2.0, 1.0], [0.0, -0.5, 1.0]]),  # teacher scores, positive first
        [T([3.0, 2.0, 1.0]), T([0.0, -0.5, 1.0])],  # the same, one tensor per example
    ],
)
def test_margin_mse_value_and_gradient(model, labels):
    scores = {("q1", "p1"): 2.0, ("q1", "x1"): 0.5, ("q1", "y1"): -1.0}
    scores |= {("q2", "p2"): 0.0, ("q2", "x2"): 1.0, ("q2", "y2"): 0.25}
    fixed = FixedScores(model, scores)
    loss = losses.MarginMSELoss(model)([["q1", "q2"], ["p1", "p2"], ["x1", "x2"], ["y1", "y2"]], labels)
    loss.backward()
    targets = [[1.0, 2.0], [0.5, -1.0]]
    d1 = [2.0 - 0.5 - targets[0][0], 2.0 + 1.0 - targets[0][1]]
    d2 = [0.0 - 1.0 - targets[1][0], 0.0 - 0.25 - targets[1][1]]
    assert loss.item() == pytest.approx(np.mean(np.square(d1 + d2)), rel=1e-6)
    assert fixed.grad(("q1", "p1"))[0] == pytest.approx(2 * sum(d1) / 4, rel=1e-5)
    assert fixed.grad(("q1", "y1"))[0] == pytest.approx(-2 * d1[1] / 4, rel=1e-5)
    assert fixed.grad(("q2", "x2"))[0] == pytest.approx(-2 * d2[0] / 4, rel=1e-5)


def test_margin_mse_rejects_labels_of_the_wrong_shape(model):
    FixedScores(model, {})
    with pytest.raises(ValueError, match=r"Labels shape torch.Size\(\[3\]\) does not match expected shape \(2, 1\)"):
        losses.MarginMSELoss(model)([["q1", "q2"], ["p1", "p2"], ["n1", "n2"]], T([1.0, 2.0, 3.0]))


# ---------------------------------------------------------------------------------------------------------------------
# in-batch negatives

ANCHORS, POSITIVES, HARD = ["a0", "a1", "a2"], ["p0", "p1", "p2"], ["h0", "h1", "h2"]


def triplet_scores() -> dict[tuple[str, str], float]:
    """A distinct logit for every (anchor, candidate) pair of the triplet batch."""
    candidates = POSITIVES + HARD
    return {(a, c): math.sin(1.7 * i + 0.9 * j) * 2 for i, a in enumerate(ANCHORS) for j, c in enumerate(candidates)}


def mnrl_expected(scores, scale: float, activate) -> tuple[float, dict]:
    """InfoNCE over each anchor's positive, the other rows' positives and hard negatives, and its own hard negative."""
    total, grads = 0.0, {}
    for i, anchor in enumerate(ANCHORS):
        cands = [POSITIVES[i]] + [c for j, c in enumerate(POSITIVES) if j != i]
        cands += [c for j, c in enumerate(HARD) if j != i] + [HARD[i]]
        raw = np.array([scores[(anchor, c)] for c in cands])
        act, act_grad = activate(raw)
        probs = softmax(scale * act)
        total += -math.log(probs[0]) / len(ANCHORS)
        for k, c in enumerate(cands):
            grads[(anchor, c)] = (probs[k] - (k == 0)) * scale * act_grad[k] / len(ANCHORS)
    return total, grads


def sigmoid_with_grad(x):
    p = sigmoid(x)
    return p, p * (1 - p)


@pytest.mark.parametrize("cached", [False, True])
def test_multiple_negatives_ranking_uses_all_in_batch_negatives(model, cached):
    scores = triplet_scores()
    fixed = FixedScores(model, scores)
    if cached:
        loss_fn = losses.CachedMultipleNegativesRankingLoss(model, num_negatives=None, mini_batch_size=4)
    else:
        loss_fn = losses.MultipleNegativesRankingLoss(model, num_negatives=None)
    loss = loss_fn([ANCHORS, POSITIVES, HARD], None)
    loss.backward()
    expected, grads = mnrl_expected(scores, 10.0, sigmoid_with_grad)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    for pair, grad in grads.items():
        assert fixed.grad(pair)[0] == pytest.approx(grad, rel=1e-4, abs=1e-7)
    sizes = [len(pairs) for pairs, _, _ in fixed.calls]
    assert sizes == ([4, 4, 4, 4, 2] * 2 if cached else [3] * 6)  # the cached loss scores everything twice


def test_multiple_negatives_ranking_without_activation_or_hard_negatives(model):
    scores = {(a, p): float(i - 2 * j) / 3 for i, a in enumerate(ANCHORS) for j, p in enumerate(POSITIVES)}
    fixed = FixedScores(model, scores)
    loss = losses.MultipleNegativesRankingLoss(model, num_negatives=None, scale=5.0, activation_fn=None)(
        [ANCHORS, POSITIVES], None
    )
    loss.backward()
    expected = 0.0
    for i, a in enumerate(ANCHORS):
        row = np.array([scores[(a, POSITIVES[i])]] + [scores[(a, p)] for j, p in enumerate(POSITIVES) if j != i])
        expected -= math.log(softmax(5.0 * row)[0]) / 3
        assert fixed.grad((a, POSITIVES[i]))[0] == pytest.approx(5.0 * (softmax(5.0 * row)[0] - 1) / 3, rel=1e-5)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_multiple_negatives_ranking_samples_negatives_from_other_rows(model):
    fixed = FixedScores(model, triplet_scores())
    loss_fn = losses.MultipleNegativesRankingLoss(model, num_negatives=2)
    torch.manual_seed(1)
    loss_fn([ANCHORS, POSITIVES, HARD], None, prompt="Rank: ", task="rerank")
    assert len(fixed.calls) == 4  # positives, two sampled columns, hard negatives
    assert all(prompt == "Rank: " and task == "rerank" for _, prompt, task in fixed.calls)
    for i, anchor in enumerate(ANCHORS):
        sampled = [pairs[i] for pairs, _, _ in fixed.calls[1:3]]
        assert all(a == anchor for a, _ in sampled)
        candidates = [c for _, c in sampled]
        assert len(set(candidates)) == 2
        assert POSITIVES[i] not in candidates and HARD[i] not in candidates


def test_cached_multiple_negatives_ranking_scales_with_the_outer_gradient(model):
    scores = triplet_scores()
    fixed = FixedScores(model, scores)
    loss_fn = losses.CachedMultipleNegativesRankingLoss(model, num_negatives=None, mini_batch_size=5)
    (loss_fn([ANCHORS, POSITIVES, HARD], None) * 2.5).backward()  # e.g. a gradient scaler or accumulation factor
    _, grads = mnrl_expected(scores, 10.0, sigmoid_with_grad)
    for pair, grad in grads.items():
        assert fixed.grad(pair)[0] == pytest.approx(2.5 * grad, rel=1e-4, abs=1e-7)


def test_cached_multiple_negatives_ranking_replays_dropout(model):
    """With dropout on, the second (gradient) pass must draw the masks of the first, or the gradients are off."""
    model.train()
    batch = [["what is a fox", "where is paris"], ["a quick brown fox", "france"]]
    loss_fn = losses.CachedMultipleNegativesRankingLoss(model, num_negatives=None, mini_batch_size=100)
    torch.manual_seed(7)
    loss_fn(batch, None).backward()
    cached = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    model.zero_grad()
    # the same in one forward pass from the same random state: columns (positives, other row's positive)
    pairs = [
        (a, d)
        for docs in (["a quick brown fox", "france"], ["france", "a quick brown fox"])
        for a, d in zip(batch[0], docs, strict=True)
    ]
    torch.manual_seed(7)
    logits = model(model.preprocess(pairs))["scores"].view(2, 2).T  # (anchor, candidate): positive first
    nn.functional.cross_entropy(torch.sigmoid(logits) * 10.0, torch.zeros(2, dtype=torch.long)).backward()
    direct = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    assert len(cached) == len(direct) > 0
    for a, b in zip(cached, direct, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_cached_multiple_negatives_ranking_matches_uncached_on_the_real_model(model):
    model.eval()  # no dropout, so both losses see the same network
    batch = [["what is a fox", "who plays guitar", "where is paris"], ["a quick brown fox", "a man", "france"]]
    batch.append(["a lazy dog", "two women", "a cat sleeps"])
    params = [p for p in model.parameters() if p.requires_grad]

    def run(loss_fn):
        model.zero_grad()
        loss = loss_fn(batch, None)
        loss.backward()
        return loss.item(), [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in params]

    plain_loss, plain_grads = run(losses.MultipleNegativesRankingLoss(model, num_negatives=None))
    cached_fn = losses.CachedMultipleNegativesRankingLoss(model, num_negatives=None, mini_batch_size=2)
    cached_loss, cached_grads = run(cached_fn)
    assert cached_loss == pytest.approx(plain_loss, rel=1e-5)
    assert any(g.abs().sum() > 0 for g in cached_grads)
    for plain, cached in zip(plain_grads, cached_grads, strict=True):
        torch.testing.assert_close(cached, plain, rtol=1e-4, atol=1e-6)
    with torch.no_grad():  # evaluation: no replay hook, same value
        assert cached_fn(batch, None).item() == pytest.approx(plain_loss, rel=1e-5)
    assert cached_fn.get_config_dict() == {
        "scale": 10.0,
        "num_negatives": None,
        "activation_fn": "torch.nn.modules.activation.Sigmoid",
        "mini_batch_size": 2,
    }


# ---------------------------------------------------------------------------------------------------------------------
# listwise losses: three queries with 3, 2 and 4 documents

QUERIES = ["q1", "q2", "q3"]
DOCS = [["d1", "d2", "d3"], ["d4", "d5"], ["d6", "d7", "d8", "d9"]]
LIST_LOGITS = [[0.4, -0.3, 1.1], [0.2, 0.9], [1.5, -0.7, 0.1, 0.6]]
LIST_LABELS = [[1.0, 0.0, 2.0], [0.0, 1.0], [3.0, 1.0, 2.0, 0.0]]


def list_model(model) -> FixedScores:
    scores = {
        (q, d): s
        for q, docs, row in zip(QUERIES, DOCS, LIST_LOGITS, strict=True)
        for d, s in zip(docs, row, strict=True)
    }
    return FixedScores(model, scores)


def list_grads(fixed: FixedScores) -> list[np.ndarray]:
    return [np.array([fixed.grad((q, d))[0] for d in docs]) for q, docs in zip(QUERIES, DOCS, strict=True)]


def run_list_loss(loss_fn, fixed, labels=LIST_LABELS) -> tuple[float, list[np.ndarray]]:
    loss = loss_fn([QUERIES, DOCS], [T(row) for row in labels])
    loss.backward()
    return loss.item(), list_grads(fixed)


@pytest.mark.parametrize("mini_batch_size", [None, 2, -1])
def test_list_net(model, mini_batch_size):
    fixed = list_model(model)
    value, grads = run_list_loss(losses.ListNetLoss(model, mini_batch_size=mini_batch_size), fixed)
    expected = 0.0
    for row, labels, grad in zip(LIST_LOGITS, LIST_LABELS, grads, strict=True):
        target = softmax(labels)
        expected -= np.sum(target * np.log(softmax(row))) / 3
        np.testing.assert_allclose(grad, (softmax(row) - target) / 3, rtol=1e-4, atol=1e-7)
    assert value == pytest.approx(expected, rel=1e-5)
    sizes = {None: [3, 3, 3], 2: [2, 2, 2, 2, 1], -1: [9]}[mini_batch_size]
    assert [len(pairs) for pairs, _, _ in fixed.calls] == sizes


def test_list_net_applies_the_activation(model):
    fixed = list_model(model)
    value, grads = run_list_loss(losses.ListNetLoss(model, activation_fn=nn.Sigmoid()), fixed)
    expected = 0.0
    for row, labels, grad in zip(LIST_LOGITS, LIST_LABELS, grads, strict=True):
        p, dp = sigmoid_with_grad(row)
        expected -= np.sum(softmax(labels) * np.log(softmax(p))) / 3
        np.testing.assert_allclose(grad, (softmax(p) - softmax(labels)) * dp / 3, rtol=1e-4, atol=1e-7)
    assert value == pytest.approx(expected, rel=1e-5)


def plackett_luce(scores, weights) -> tuple[float, np.ndarray]:
    """-sum_i w_i log P(pick i among i..n) and its gradient, for one list in its true order."""
    s = np.asarray(scores, dtype=np.float64)
    loss, grad = 0.0, np.zeros_like(s)
    for i in range(len(s)):
        rest = softmax(s[i:])
        loss -= weights[i] * math.log(rest[0])
        grad[i] -= weights[i]
        grad[i:] += weights[i] * rest
    return loss, grad


def default_position_weights(n: int) -> list[float]:
    raw = [Fraction(2 ** (n - rank) - 1) for rank in range(1, n + 1)]
    return [float(w / sum(raw)) if sum(raw) else 0.0 for w in raw]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("respect_input_order", [True, False])
def test_plist_mle_and_list_mle(model, weighted, respect_input_order):
    fixed = list_model(model)
    if weighted:
        loss_fn = losses.PListMLELoss(model, respect_input_order=respect_input_order)
    else:
        loss_fn = losses.ListMLELoss(model, respect_input_order=respect_input_order)
    value, grads = run_list_loss(loss_fn, fixed)
    expected = 0.0
    for row, labels, grad in zip(LIST_LOGITS, LIST_LABELS, grads, strict=True):
        order = list(range(len(row))) if respect_input_order else list(np.argsort(labels)[::-1])
        weights = default_position_weights(len(row)) if weighted else [1.0] * len(row)
        loss, g = plackett_luce([row[k] for k in order], weights)
        expected += loss / 3
        np.testing.assert_allclose(grad[order], g / 3, rtol=1e-4, atol=1e-6)
    assert value == pytest.approx(expected, rel=1e-5)


def test_plist_mle_lambda_weight_default_custom_and_long_lists():
    mask = T([[True, True, True, False], [True, True, True, True]])
    weights = losses.PListMLELambdaWeight()(mask)
    torch.testing.assert_close(weights, T([[3.0, 1.0, 0.0, 0.0], [7.0, 3.0, 1.0, 0.0]]))
    custom = losses.PListMLELambdaWeight(rank_discount_fn=lambda m: m.float() * 2)
    torch.testing.assert_close(custom(mask), mask.float() * 2)
    long = losses.PListMLELambdaWeight()(torch.ones(1, 200, dtype=torch.bool))[0].double()
    assert torch.isfinite(long).all() and torch.isfinite(long.sum())
    exact = default_position_weights(200)
    np.testing.assert_allclose((long / long.sum()).numpy()[:20], exact[:20], rtol=1e-6)


def test_plist_mle_single_document_lists_give_zero_loss(model):
    fixed = FixedScores(model, {("q1", "d1"): 0.7, ("q2", "d2"): -0.2})
    loss = losses.PListMLELoss(model)([["q1", "q2"], [["d1"], ["d2"]]], [T([1.0]), T([0.0])])
    assert loss.item() == 0.0 and loss.requires_grad  # 2^(1-1) - 1 = 0: a one-document list weighs nothing
    assert len(fixed.calls) == 1


def lambda_reference(scheme: str, k=None, sigma=1.0, binary=True, mu=10.0) -> tuple[float, list[np.ndarray]]:
    """LambdaLoss worked pair by pair from the paper's formulas, over the documents in predicted order."""
    max_docs = max(len(row) for row in LIST_LOGITS)
    k = k or max_docs
    terms, grads = [], []
    for row, labels in zip(LIST_LOGITS, LIST_LABELS, strict=True):
        order = np.argsort(row)[::-1]
        s, y = np.array(row)[order], np.array(labels)[order]
        ideal = sorted(labels, reverse=True)
        max_dcg = max(sum((2**v - 1) / math.log2(1 + r) for r, v in enumerate(ideal[:k], start=1)), 1e-10)
        gain = (2**y - 1) / max_dcg
        disc = [math.log2(1 + r) for r in range(1, len(s) + 1)]
        grad = np.zeros(len(s))
        for p in range(len(s)):
            for q in range(len(s)):
                if scheme != "ndcg1" and not y[p] > y[q]:
                    continue
                if p >= k and q >= k:
                    continue
                dist = abs(p - q)
                ndcg2 = 0.0 if dist == 0 else abs(1 / math.log2(1 + dist) - 1 / math.log2(2 + dist))
                ndcg2 *= abs(gain[p] - gain[q])
                lambdarank = abs(1 / disc[p] - 1 / disc[q]) * abs(gain[p] - gain[q])
                weight = {
                    "none": 1.0,
                    "ndcg1": gain[p] / disc[p],
                    "ndcg2": ndcg2,
                    "lambdarank": lambdarank,
                    "ndcg2pp": mu * ndcg2 + lambdarank,
                }[scheme]
                base = math.log(2) if binary else 1.0
                z = sigma * (s[p] - s[q])
                terms.append(-weight * math.log(sigmoid(z)) / base)
                slope = -weight * sigma * (1 - sigmoid(z)) / base  # d/d(s_p - s_q)
                grad[p] += slope
                grad[q] -= slope
        back = np.zeros(len(s))
        back[order] = grad
        grads.append(back)
    return sum(terms) / len(terms), [g / len(terms) for g in grads]


SCHEMES = {"2pp": losses.NDCGLoss2PPScheme(mu=3.0), "ndcg1": losses.NDCGLoss1Scheme()}
SCHEMES |= {"ndcg2": losses.NDCGLoss2Scheme(), "rank": losses.LambdaRankScheme(), "no": losses.NoWeightingScheme()}


@pytest.mark.parametrize(
    ("loss_name", "kwargs", "reference"),
    [
        ("LambdaLoss", {}, {"scheme": "ndcg2pp"}),
        ("LambdaLoss", {"weighting_scheme": "2pp"}, {"scheme": "ndcg2pp", "mu": 3.0}),
        ("LambdaLoss", {"weighting_scheme": None, "reduction_log": "natural"}, {"scheme": "none", "binary": False}),
        ("LambdaLoss", {"weighting_scheme": "no", "sigma": 2.0}, {"scheme": "none", "sigma": 2.0}),
        ("LambdaLoss", {"weighting_scheme": "ndcg1"}, {"scheme": "ndcg1"}),
        ("LambdaLoss", {"weighting_scheme": "ndcg2", "k": 2}, {"scheme": "ndcg2", "k": 2}),
        ("LambdaLoss", {"weighting_scheme": "rank"}, {"scheme": "lambdarank"}),
        ("RankNetLoss", {"k": 1}, {"scheme": "none", "k": 1}),
    ],
)
def test_lambda_loss_schemes(model, loss_name, kwargs, reference):
    fixed = list_model(model)
    if kwargs.get("weighting_scheme") is not None:
        kwargs = {**kwargs, "weighting_scheme": SCHEMES[kwargs["weighting_scheme"]]}
    value, grads = run_list_loss(getattr(losses, loss_name)(model, **kwargs), fixed)
    expected, expected_grads = lambda_reference(**reference)
    assert value == pytest.approx(expected, rel=1e-5)
    for grad, want in zip(grads, expected_grads, strict=True):
        np.testing.assert_allclose(grad, want, rtol=1e-4, atol=1e-7)


def test_adr_mse(model):
    fixed = list_model(model)
    alpha = 2.5
    labels = [[1.0, 1.0, 2.0], [0.0, 1.0], [3.0, 1.0, 2.0, 0.0]]  # a tie in the first list
    value, grads = run_list_loss(losses.ADRMSELoss(model, alpha=alpha, mini_batch_size=4), fixed, labels)
    total, count, expected_grads = 0.0, 0, []
    for row, y in zip(LIST_LOGITS, labels, strict=True):
        s, n = np.array(row), len(row)
        true = np.array([sum(v > y[i] for v in y) + (sum(v == y[i] for v in y) + 1) / 2 for i in range(n)])
        approx = np.array([1 + sum(sigmoid(alpha * (s[j] - s[i])) for j in range(n) if j != i) for i in range(n)])
        weight = 1 / np.log2(true + 1)
        total += np.sum(weight * (true - approx) ** 2)
        count += n
        grad = np.zeros(n)
        for i in range(n):
            outer = 2 * weight[i] * (approx[i] - true[i])
            for j in range(n):
                if j != i:
                    slope = alpha * sigmoid(alpha * (s[j] - s[i])) * (1 - sigmoid(alpha * (s[j] - s[i])))
                    grad[j] += outer * slope
                    grad[i] -= outer * slope
        expected_grads.append(grad)
    assert value == pytest.approx(total / count, rel=1e-5)
    for grad, want in zip(grads, expected_grads, strict=True):
        np.testing.assert_allclose(grad, want / count, rtol=1e-4, atol=1e-7)
    assert [len(pairs) for pairs, _, _ in fixed.calls] == [4, 4, 1]


# ---------------------------------------------------------------------------------------------------------------------
# the real model end to end


def test_pointwise_loss_on_the_real_model_matches_its_predictions(model):
    model.eval()
    pairs = [("what is a fox", "a quick brown fox"), ("who plays guitar", "two women")]
    logits = np.asarray(model.predict(pairs, activation_fn=nn.Identity()), dtype=np.float64).reshape(-1)
    loss = losses.BinaryCrossEntropyLoss(model)([[p[0] for p in pairs], [p[1] for p in pairs]], T([1.0, 0.0]))
    p = sigmoid(logits)
    assert loss.item() == pytest.approx(-(math.log(p[0]) + math.log(1 - p[1])) / 2, rel=1e-4)
    loss.backward()
    assert any(param.grad is not None and param.grad.abs().sum() > 0 for param in model.parameters())


@pytest.mark.parametrize(
    "make", [losses.ListNetLoss, losses.PListMLELoss, losses.ListMLELoss, losses.LambdaLoss, losses.ADRMSELoss]
)
def test_list_losses_train_the_real_model(model, make):
    queries = ["what is a fox", "where is paris"]
    docs = [["a quick brown fox", "a lazy dog"], ["france", "a cat sleeps", "the capital of france"]]
    loss = make(model)([queries, docs], [T([1.0, 0.0]), T([1.0, 0.0, 2.0])])
    loss.backward()
    assert torch.isfinite(loss)
    assert any(param.grad is not None and param.grad.abs().sum() > 0 for param in model.parameters())


# ---------------------------------------------------------------------------------------------------------------------
# errors, configs, citations, exports


@pytest.mark.parametrize(
    "make",
    [
        losses.BinaryCrossEntropyLoss,
        losses.MSELoss,
        losses.MarginMSELoss,
        losses.MultipleNegativesRankingLoss,
        losses.CachedMultipleNegativesRankingLoss,
        losses.ListNetLoss,
        losses.ListMLELoss,
        losses.PListMLELoss,
        losses.LambdaLoss,
        losses.RankNetLoss,
        losses.ADRMSELoss,
    ],
)
def test_single_score_losses_reject_multi_label_models(model3, make):
    verb = "expects" if make.__name__ in {"BinaryCrossEntropyLoss", "MSELoss", "MarginMSELoss"} else None
    verb = verb or ("expects" if "MultipleNegatives" in make.__name__ else "supports")
    message = f"{make.__name__} {verb} a model with 1 output label, but got a model with 3 output labels."
    with pytest.raises(ValueError, match=message):
        make(model3)


@pytest.mark.parametrize(
    "make",
    [
        losses.BinaryCrossEntropyLoss,
        losses.CrossEntropyLoss,
        losses.MSELoss,
        losses.MarginMSELoss,
        losses.MultipleNegativesRankingLoss,
        losses.CachedMultipleNegativesRankingLoss,
    ],
)
def test_pair_losses_need_a_cross_encoder(make):
    linear = nn.Linear(2, 1)
    linear.num_labels = 1
    with pytest.raises(ValueError, match=f"{make.__name__} expects a model of type CrossEncoder, but got a model of"):
        make(linear)


@pytest.mark.parametrize("make", [losses.BinaryCrossEntropyLoss, losses.MSELoss, losses.CrossEntropyLoss])
def test_pair_losses_check_columns(model, make):
    FixedScores(model, {("a", "b"): 0.0})
    name = make.__name__
    with pytest.raises(
        ValueError, match=f"{name} expects a dataset with two non-label columns, but got a dataset with 3"
    ):
        make(model)([["a"], ["b"], ["c"]], T([1.0]))


@pytest.mark.parametrize("make", [losses.BinaryCrossEntropyLoss, losses.MSELoss])
def test_pointwise_losses_check_label_count(model, make):
    FixedScores(model, {("a", "b"): 0.0, ("c", "d"): 1.0})
    message = rf"{make.__name__} expects 2 labels \(one per example\), but got 3 labels with shape \(3,\)\."
    with pytest.raises(ValueError, match=message):
        make(model)([["a", "c"], ["b", "d"]], T([1.0, 0.0, 1.0]))


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (losses.ListNetLoss, "ListNetLoss"),
        (losses.PListMLELoss, "PListMLELoss"),
        (losses.ListMLELoss, "PListMLELoss"),  # inherits PListMLELoss's checks and their wording
        (losses.LambdaLoss, "LambdaLoss"),
        (losses.RankNetLoss, "LambdaLoss"),
        (losses.ADRMSELoss, "ADRMSELoss"),
    ],
)
def test_list_losses_check_their_inputs(model, make, name):
    list_model(model)
    loss_fn = make(model)
    labels = [T(row) for row in LIST_LABELS]
    tensor_message = (
        "ADRMSELoss expects `labels` to be a list of per-query Tensors (list[Tensor]), but got a single Tensor."
        if name == "ADRMSELoss"
        else f"{name} expects a list of labels for each sample, but got a single value for each sample."
    )
    with pytest.raises(ValueError) as error:
        loss_fn([QUERIES, DOCS], T([1.0, 0.0, 1.0]))
    assert str(error.value) == tensor_message
    with pytest.raises(ValueError) as error:
        loss_fn([QUERIES, DOCS, QUERIES], labels)
    assert str(error.value) == f"{name} expects two inputs (queries, documents_list), but got 3 inputs."
    with pytest.raises(ValueError) as error:
        loss_fn([QUERIES, DOCS], labels[:2] + [T([1.0])])
    assert str(error.value) == (
        "Number of documents per query in inputs ([3, 2, 4]) does not match number of labels per query ([3, 2, 1])."
    )


def test_configs_and_citations(model):
    identity = "torch.nn.modules.linear.Identity"
    assert losses.LambdaLoss(model).get_config_dict() == {
        "weighting_scheme": "sentence_transformers.cross_encoder.losses.lambda_loss.NDCGLoss2PPScheme",
        "k": None,
        "sigma": 1.0,
        "eps": 1e-10,
        "reduction_log": "binary",
        "activation_fn": identity,
        "mini_batch_size": None,
    }
    assert "weighting_scheme" not in losses.RankNetLoss(model).get_config_dict()
    assert losses.PListMLELoss(model, mini_batch_size=8).get_config_dict() == {
        "lambda_weight": "sentence_transformers.cross_encoder.losses.plist_mle.PListMLELambdaWeight",
        "activation_fn": identity,
        "mini_batch_size": 8,
        "respect_input_order": True,
    }
    assert losses.ListMLELoss(model).get_config_dict() == {
        "activation_fn": identity,
        "mini_batch_size": None,
        "respect_input_order": True,
    }
    assert losses.ADRMSELoss(model, alpha=2.0).get_config_dict() == {
        "alpha": 2.0,
        "activation_fn": identity,
        "mini_batch_size": None,
    }
    assert losses.ListNetLoss(model, activation_fn=None).get_config_dict() == {
        "activation_fn": identity,
        "mini_batch_size": None,
    }
    assert losses.MultipleNegativesRankingLoss(model, activation_fn=None).get_config_dict() == {
        "scale": 10.0,
        "num_negatives": 4,
        "activation_fn": "NoneType",
    }
    assert losses.MarginMSELoss(model).get_config_dict() == {"activation_fn": identity}
    assert losses.MSELoss(model).get_config_dict() == {"activation_fn": identity}
    assert losses.BinaryCrossEntropyLoss(model).get_config_dict() == {"activation_fn": identity, "pos_weight": None}
    citations = {
        losses.LambdaLoss(model).citation: "wang2018lambdaloss",
        losses.RankNetLoss(model).citation: "burges2005learning",
        losses.ListNetLoss(model).citation: "cao2007learning",
        losses.ListMLELoss(model).citation: "10.1145/1390156.1390306",
        losses.PListMLELoss(model).citation: "lan2014position",
        losses.ADRMSELoss(model).citation: "schlatt2025rankdistillm",
        losses.MarginMSELoss(model).citation: "hofstätter2021improving",
    }
    for citation, key in citations.items():
        assert citation.strip().startswith("@") and f"{{{key}," in citation


def test_cached_loss_announces_its_gradient_cache(model):
    from sentence_transformers.base.losses.gradcache import uses_gradient_cache

    assert uses_gradient_cache(losses.CachedMultipleNegativesRankingLoss(model))
    assert not uses_gradient_cache(losses.MultipleNegativesRankingLoss(model))


def test_exports_match_upstream():
    assert losses.__all__ == [
        "ADRMSELoss",
        "BinaryCrossEntropyLoss",
        "CrossEntropyLoss",
        "MultipleNegativesRankingLoss",
        "CachedMultipleNegativesRankingLoss",
        "MarginMSELoss",
        "MSELoss",
        "ListNetLoss",
        "ListMLELoss",
        "PListMLELoss",
        "PListMLELambdaWeight",
        "LambdaLoss",
        "NoWeightingScheme",
        "NDCGLoss1Scheme",
        "NDCGLoss2Scheme",
        "LambdaRankScheme",
        "NDCGLoss2PPScheme",
        "RankNetLoss",
    ]
    assert all(hasattr(losses, name) for name in losses.__all__)
