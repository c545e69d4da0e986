"""MultiVectorMask and the token poolings of the late-interaction model type: masks and pooled vectors computed by
hand, their configs as upstream writes them, and the errors for bad arguments."""

from __future__ import annotations

import json
import logging
import math
import string

import pytest
import torch

from sentence_transformers.base import persistence
from sentence_transformers.multi_vector_encoder.modules import (
    BaseTokenPooling,
    HierarchicalTokenPooling,
    LambdaTokenPooling,
    MultiVectorMask,
)


class FakeTokenizer:
    """Token → id for a handful of tokens; anything else is [UNK] (id 1)."""

    unk_token_id, unk_token = 1, "[UNK]"
    vocab = {"[PAD]": 0, "[UNK]": 1, ".": 7, ",": 8, "!": 9}

    def convert_tokens_to_ids(self, token: str) -> int:
        return self.vocab.get(token, 1)


def features() -> dict[str, torch.Tensor]:
    # Row 0: a query [CLS] a . [SEP] followed by two expansion positions; row 1: a document with , and ! in it.
    return {
        "input_ids": torch.tensor([[2, 5, 7, 3, 4, 4], [2, 8, 6, 9, 3, 0]]),
        "attention_mask": torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0]]),
        "query_expansion_positions": torch.tensor([[0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0]]).bool(),
        "token_embeddings": torch.randn(2, 6, 3),
    }


def mask_for(module: MultiVectorMask, task: str | None) -> list[list[int]]:
    return module(features(), task=task)["attention_mask"].int().tolist()


def test_mask_keeps_expansion_positions_for_queries_only() -> None:
    mask = MultiVectorMask()
    assert mask_for(mask, "query") == [[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]]
    assert mask_for(mask, "document") == [[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0]]
    assert mask(features(), task="query")["attention_mask"].dtype == torch.bool


def test_mask_skiplist_applies_to_documents_and_no_task() -> None:
    mask = MultiVectorMask(skiplist_words=[".", ",", "!"])
    mask.resolve_with_tokenizer(FakeTokenizer())
    assert mask_for(mask, "document") == [[1, 1, 0, 1, 0, 0], [1, 0, 1, 0, 1, 0]]
    assert mask_for(mask, None) == mask_for(mask, "document")  # no task counts as a document
    assert mask_for(mask, "query") == [[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]]  # queries keep punctuation


def test_mask_skiplist_tasks_and_allowlist() -> None:
    both = MultiVectorMask(skiplist_words=["."], skiplist_tasks=["query", "document"])
    both.resolve_with_tokenizer(FakeTokenizer())
    assert mask_for(both, "query")[0] == [1, 1, 0, 1, 1, 1]
    assert MultiVectorMask(skiplist_tasks="query").skiplist_tasks == ["query"]
    keep = MultiVectorMask(keep_only_token_ids=[5, 6])
    assert mask_for(keep, "document") == [[0, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0]]
    assert mask_for(keep, "query")[0] == [1, 1, 1, 1, 1, 1]  # never on the query side


def test_mask_drops_unknown_skiplist_words_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    mask = MultiVectorMask(skiplist_words=[".", "not-a-token"])
    with caplog.at_level(logging.WARNING):
        mask.resolve_with_tokenizer(FakeTokenizer())
    assert "not-a-token" in caplog.text
    assert mask._skiplist_ids.tolist() == [7]  # [UNK] (1) is not skipped: real unknown tokens stay scored


def test_mask_passes_batches_without_token_ids() -> None:
    batch = {"attention_mask": torch.tensor([[1, 0]]), "token_embeddings": torch.zeros(1, 2, 3)}
    assert MultiVectorMask(skiplist_words=["."])(batch, task="document")["attention_mask"].tolist() == [[1, 0]]


def test_mask_config_round_trip(tmp_path) -> None:
    mask = MultiVectorMask(skiplist_words=list(string.punctuation), skiplist_tasks="document", keep_only_token_ids=[3])
    mask.save(str(tmp_path))
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved == {
        "skiplist_words": list(string.punctuation),
        "skiplist_tasks": ["document"],
        "keep_only_token_ids": [3],
    }
    loaded = MultiVectorMask.load(str(tmp_path))
    assert loaded.get_config_dict() == saved
    assert persistence.type_name(mask) == (
        "sentence_transformers.multi_vector_encoder.modules.multi_vector_mask.MultiVectorMask"
    )
    assert persistence.resolve_type(persistence.type_name(mask), str(tmp_path)) is MultiVectorMask


def test_mask_rejects_a_string_skiplist() -> None:
    with pytest.raises(TypeError, match="list of tokens"):
        MultiVectorMask(skiplist_words=".,!")


# ------------------------------------------------------------------ token pooling
def halve(rows: torch.Tensor) -> torch.Tensor:
    """Mean of consecutive pairs, an odd last row dropped."""
    count = rows.shape[0] - rows.shape[0] % 2
    return rows[:count].view(count // 2, 2, -1).mean(dim=1)


def test_lambda_pooling_on_lists_and_padded_tensors() -> None:
    pooling = LambdaTokenPooling(halve)
    rows = [torch.arange(12.0).view(4, 3), torch.arange(6.0).view(2, 3)]
    pooled = pooling.pool(rows)
    assert pooled[0].tolist() == [[1.5, 2.5, 3.5], [7.5, 8.5, 9.5]]
    assert pooled[1].tolist() == [[1.5, 2.5, 3.5]]
    padded = torch.zeros(2, 4, 3)
    padded[0], padded[1, :2] = rows[0], rows[1]
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    by_mask = pooling.pool(padded, attention_mask=mask)
    assert by_mask.shape == (2, 2, 3) and by_mask[1, 1].abs().sum() == 0
    assert torch.equal(pooling.pool(padded), by_mask)  # without a mask: the non-zero rows (right padding)
    left = torch.zeros(2, 4, 3)
    left[0], left[1, 2:] = rows[0], rows[1]
    pooled_left = pooling.pool(left, padding_side="left")
    assert pooled_left[1, 0].abs().sum() == 0 and pooled_left[1, 1].tolist() == [1.5, 2.5, 3.5]
    assert pooling.pool([], task="document") == []


def test_pooling_only_pools_its_tasks() -> None:
    rows = [torch.ones(4, 3)]
    assert LambdaTokenPooling(halve).pool(rows, task="query") is rows
    assert LambdaTokenPooling(halve).applies_to(None)
    both = LambdaTokenPooling(halve, tasks=["query", "document"])
    assert both.pool(rows, task="query")[0].shape == (2, 3)
    assert LambdaTokenPooling(halve, tasks="query").tasks == ["query"]


def test_pooling_forward_rewrites_embeddings_and_mask() -> None:
    batch = {
        "token_embeddings": torch.arange(24.0).view(2, 4, 3),
        "attention_mask": torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]]),
    }
    untouched = {key: value.clone() for key, value in batch.items()}
    out = LambdaTokenPooling(halve)(batch, task="document")
    assert out["attention_mask"].tolist() == [[True, True], [True, False]]
    assert out["token_embeddings"][1, 0].tolist() == [13.5, 14.5, 15.5]
    mask = untouched["attention_mask"].clone()
    assert torch.equal(LambdaTokenPooling(halve)(untouched, task="query")["attention_mask"], mask)


def test_pooling_errors() -> None:
    pooling = LambdaTokenPooling(halve)
    with pytest.raises(ValueError, match="3D"):
        pooling.pool(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="padding_side"):
        pooling.pool(torch.zeros(1, 4, 3), padding_side="middle")
    with pytest.raises(ValueError, match="2D tensors"):
        pooling.pool([torch.zeros(3)])
    with pytest.raises(ValueError, match="list of 2D tensors or a 3D"):
        pooling.pool("text")
    with pytest.raises(TypeError, match="callable"):
        LambdaTokenPooling(3)
    with pytest.raises(NotImplementedError, match="cannot be saved"):
        pooling.save("/tmp/nowhere")
    with pytest.raises(TypeError):
        BaseTokenPooling()  # abstract: pool_one


def hand_clusters() -> torch.Tensor:
    # A protected first row, then two pairs of close unit vectors: the pairs are the two Ward clusters.
    return torch.tensor(
        [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 0.0, 1.0], [0.0, 0.6, 0.8]], dtype=torch.float32
    )


def sorted_rows(rows: torch.Tensor) -> list[list[float]]:
    return sorted([round(value, 6) for value in row] for row in rows.tolist())


def test_hierarchical_pooling_means_of_ward_clusters() -> None:
    raw = HierarchicalTokenPooling(pool_factor=2, normalize_embeddings=False).pool_one(hand_clusters())
    assert raw[0].tolist() == [0.0, 1.0, 0.0]  # protected, first
    assert sorted_rows(raw[1:]) == sorted_rows(torch.tensor([[0.0, 0.3, 0.9], [0.9, 0.3, 0.0]]))
    unit = HierarchicalTokenPooling(pool_factor=2).pool_one(hand_clusters())
    norm = math.sqrt(0.9)
    assert sorted_rows(unit[1:]) == sorted_rows(
        torch.tensor([[0.0, 0.3 / norm, 0.9 / norm], [0.9 / norm, 0.3 / norm, 0.0]])
    )
    # pool_factor 1 merges nothing; with num_protected_tokens=0 all five rows are clustered
    assert torch.equal(HierarchicalTokenPooling(normalize_embeddings=False).pool_one(hand_clusters()), hand_clusters())
    assert HierarchicalTokenPooling(pool_factor=2.5, num_protected_tokens=0).pool_one(hand_clusters()).shape == (2, 3)


def test_hierarchical_pooling_forward_with_factor_one_only_normalizes() -> None:
    batch = {"token_embeddings": torch.full((1, 2, 4), 2.0), "attention_mask": torch.ones(1, 2)}
    out = HierarchicalTokenPooling()(batch, task="document")
    assert torch.allclose(out["token_embeddings"], torch.full((1, 2, 4), 0.5))


def test_hierarchical_pooling_config(tmp_path) -> None:
    HierarchicalTokenPooling(pool_factor=3, num_protected_tokens=2, tasks="document").save(str(tmp_path))
    assert json.loads((tmp_path / "config.json").read_text()) == {
        "pool_factor": 3,
        "num_protected_tokens": 2,
        "normalize_embeddings": True,
        "tasks": ["document"],
    }
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.json").write_text(json.dumps({"pool_factor": 2, "num_protected_tokens": 1}))
    assert HierarchicalTokenPooling.load(str(tmp_path / "old")).normalize_embeddings is False  # saved before the key
    with pytest.raises(ValueError, match="pool_factor"):
        HierarchicalTokenPooling(pool_factor=0.5)
    with pytest.raises(ValueError, match="num_protected_tokens"):
        HierarchicalTokenPooling(num_protected_tokens=-1)
