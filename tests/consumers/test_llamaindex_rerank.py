"""LlamaIndex's SentenceTransformerRerank: builds ``sentence_transformers.CrossEncoder`` and calls ``predict``."""

from __future__ import annotations

import pytest
import torch

postprocessor = pytest.importorskip("llama_index.core.postprocessor")
schema = pytest.importorskip("llama_index.core.schema")


@pytest.fixture(scope="module")
def reranker_path(tmp_path_factory, model_path):
    """A CrossEncoder from all-MiniLM-L6-v2 with a seeded head, saved as a reranker folder."""
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("reranker") / "model"
    CrossEncoder(model_path, num_labels=1, device="cpu").save(str(folder))
    return str(folder)


def test_rerank_orders_nodes_by_the_cross_encoders_scores(reranker_path, texts):
    from sentence_transformers import CrossEncoder

    rerank = postprocessor.SentenceTransformerRerank(model=reranker_path, top_n=2, device="cpu")
    nodes = [schema.NodeWithScore(node=schema.TextNode(text=text), score=0.0) for text in texts]
    query = "a musician on the street"
    ranked = rerank.postprocess_nodes(nodes, query_str=query)
    expected = CrossEncoder(reranker_path, device="cpu").rank(query, texts, top_k=2, return_documents=True)
    assert [node.node.get_content() for node in ranked] == [hit["text"] for hit in expected]
    assert [node.score for node in ranked] == pytest.approx([hit["score"] for hit in expected], abs=1e-5)
