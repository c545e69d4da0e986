"""Upstream members of the losses, evaluators and util that sbert exposes under upstream's names.

Figures are worked out by hand in the comments: 1-D points for the triplet losses, 2-D vectors for the rest.
Losses run on a stub model (embedding = ``features["emb"] @ weight``) so the cached losses can be compared
with their uncached counterparts exactly.
"""

from __future__ import annotations

import logging
import math
import random
from types import SimpleNamespace

import datasets
import numpy as np
import pytest
import torch
from datasets import Dataset
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from torch import nn
from transformers import PreTrainedTokenizerFast

from sentence_transformers.base.losses import RandContext
from sentence_transformers.sentence_transformer import losses
from sentence_transformers.sentence_transformer.datasets import DenoisingAutoEncoderDataset
from sentence_transformers.sentence_transformer.evaluation import (
    InformationRetrievalEvaluator,
    NanoBEIREvaluator,
    RerankingEvaluator,
    SimilarityFunction,
    TripletEvaluator,
)
from sentence_transformers.sentence_transformer.losses.adaptive_layer import TransformerDecorator
from sentence_transformers.sentence_transformer.losses.embed_distill import EmbedDistillLoss
from sentence_transformers.sentence_transformer.losses.matryoshka import shrink
from sentence_transformers.util.similarity import dot_score, maxsim, maxsim_pairwise, mean_maxsim
from test_evaluators import StubModel as EncodeStub


class StubModel(nn.Module):
    """Embeds ``features["emb"]`` as ``emb @ weight`` (+ optional uniform noise); the weight starts as the identity."""

    def __init__(self, dim: int = 2, noise: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.eye(dim, dtype=torch.float64))
        self.noise = noise
        self.max_seq_length = 16
        vocab = {"[UNK]": 0, "a": 1}
        self.tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel(vocab, unk_token="[UNK]")))

    def forward(self, features, **kwargs):
        embedding = features["emb"] @ self.weight
        if self.noise:
            embedding = embedding + self.noise * torch.rand_like(embedding)
        return {**features, "sentence_embedding": embedding}

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def get_sentence_embedding_dimension(self) -> int:
        return self.weight.shape[0]


def column(rows) -> dict[str, torch.Tensor]:
    return {"emb": torch.tensor(rows, dtype=torch.float64)}


# ---------------------------------------------------------------------------------------- batch triplet losses
LABELS = torch.tensor([0, 0, 1, 1])
# 1-D points 0, 1, 3, 7: d01=1 d02=3 d03=7 d12=2 d13=6 d23=4 (Euclidean)
POINTS = torch.tensor([[0.0], [1.0], [3.0], [7.0]])


def test_triplet_masks_by_hand():
    positive = [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]
    negative = [[0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0]]
    for cls in (losses.BatchHardTripletLoss, losses.BatchHardSoftMarginTripletLoss):
        assert cls.get_anchor_positive_triplet_mask(LABELS).int().tolist() == positive
        assert cls.get_anchor_negative_triplet_mask(LABELS).int().tolist() == negative
        mask = cls.get_triplet_mask(LABELS)
        assert mask.shape == (4, 4, 4)
        expected = {(0, 1, 2), (0, 1, 3), (1, 0, 2), (1, 0, 3), (2, 3, 0), (2, 3, 1), (3, 2, 0), (3, 2, 1)}
        assert {tuple(index) for index in mask.nonzero().tolist()} == expected


def test_batch_hard_triplet_loss_by_hand():
    loss = losses.BatchHardTripletLoss(nn.Identity(), margin=5)
    # hardest positive 1, 1, 4, 4; hardest negative 3, 2, 2, 6 -> hinge 3, 4, 7, 3
    assert loss.batch_hard_triplet_loss(LABELS, POINTS).item() == pytest.approx(17 / 4)
    assert loss.compute_loss_from_embeddings([POINTS], LABELS).item() == pytest.approx(17 / 4)
    with pytest.raises(ValueError, match="expects 4 labels"):
        loss.batch_hard_triplet_loss(LABELS[:3], POINTS)


def test_batch_hard_soft_margin_triplet_loss_by_hand():
    loss = losses.BatchHardSoftMarginTripletLoss(nn.Identity())
    softplus = [math.log1p(math.exp(x)) for x in (1 - 3, 1 - 2, 4 - 2, 4 - 6)]
    assert loss.batch_hard_triplet_soft_margin_loss(LABELS, POINTS).item() == pytest.approx(sum(softplus) / 4)
    assert loss.compute_loss_from_embeddings([POINTS], LABELS).item() == pytest.approx(sum(softplus) / 4)
    # the inherited batch-hard method keeps its hinge with the (default) margin of 5
    assert loss.batch_hard_triplet_loss(LABELS, POINTS).item() == pytest.approx(17 / 4)


def test_batch_all_triplet_loss_by_hand():
    loss = losses.BatchAllTripletLoss(nn.Identity(), margin=5)
    # d(a,p) - d(a,n) + 5 over the 8 valid triplets: 3, -1, 4, 0, 6, 7, 2, 3 -> 25 over 6 active ones
    assert loss.batch_all_triplet_loss(LABELS, POINTS).item() == pytest.approx(25 / 6)
    assert loss.compute_loss_from_embeddings([POINTS], LABELS).item() == pytest.approx(25 / 6)


def test_batch_semi_hard_triplet_loss_by_hand():
    loss = losses.BatchSemiHardTripletLoss(nn.Identity(), margin=5)
    # (0,1): next negative beyond 1 is 3 -> 3; (1,0): 2 -> 4; (2,3): none beyond 4, largest 3 -> 6; (3,2): 6 -> 3
    assert loss.batch_semi_hard_triplet_loss(LABELS, POINTS).item() == pytest.approx(16 / 4)


def test_compute_loss_from_embeddings_goes_through_the_named_method():
    class Doubled(losses.BatchAllTripletLoss):
        def batch_all_triplet_loss(self, labels, embeddings):
            return 2 * super().batch_all_triplet_loss(labels, embeddings)

    assert Doubled(nn.Identity(), margin=5).compute_loss_from_embeddings([POINTS], LABELS).item() == pytest.approx(
        25 / 3
    )


# ----------------------------------------------------------------------------------------------- cached losses
def test_embed_minibatch_iter_splits_and_replays_random_state():
    model = StubModel(noise=1.0)
    loss = losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=2)
    features = column([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0], [0.0, 2.0]])
    outputs = list(loss.embed_minibatch_iter(features, with_grad=False, copy_random_state=True))
    assert [output[0].shape[0] for output in outputs] == [2, 2, 1]
    assert all(isinstance(state, RandContext) for _, state in outputs)
    assert not outputs[0][0].requires_grad
    # replaying the saved states draws the same noise; without them the noise differs
    replay = list(loss.embed_minibatch_iter(features, True, False, random_states=[state for _, state in outputs]))
    for (first, _), (again, state) in zip(outputs, replay, strict=True):
        assert torch.equal(first, again.detach()) and state is None and again.requires_grad
    fresh, _ = loss.embed_minibatch(features, 0, 2, with_grad=False, copy_random_state=False)
    assert not torch.equal(fresh, outputs[0][0])


def test_cached_mnrl_properties_read_and_set():
    loss = losses.CachedMultipleNegativesRankingLoss(StubModel(), mini_batch_size=1)
    for name in ("scale", "similarity_fct", "directions", "partition_mode", "hardness_mode", "hardness_strength"):
        assert isinstance(type(loss).__dict__[name], property)
    assert (loss.scale, loss.directions, loss.partition_mode) == (20.0, ("query_to_doc",), "joint")
    assert (loss.hardness_mode, loss.hardness_strength, loss.gather_across_devices) == (None, 0.0, False)
    anchors, positives = column([[1.0, 0.0], [0.0, 1.0]]), column([[1.0, 0.0], [1.0, 1.0]])
    loss.scale = 1.0
    loss.similarity_fct = dot_score
    # dot scores: anchor 0 -> (1, 1), anchor 1 -> (0, 1); loss = mean(log(e + e) - 1, log(1 + e) - 1)
    expected = (math.log(2 * math.e) - 1 + math.log(1 + math.e) - 1) / 2
    with torch.no_grad():
        assert loss([anchors, positives]).item() == pytest.approx(expected)
    assert loss.scale == 1.0 and loss.similarity_fct is dot_score
    loss.similarity_fct = nn.CosineSimilarity()  # a module stays a setting, not a submodule
    assert "similarity_fct" not in dict(loss.named_children())


def test_cached_mnrs_properties():
    loss = losses.CachedMultipleNegativesSymmetricRankingLoss(StubModel(), scale=10.0)
    assert loss.directions == ("query_to_doc", "doc_to_query") and loss.partition_mode == "per_direction"
    assert loss.scale == 10.0


def test_cached_mnrl_matches_uncached_loss_and_gradients():
    rows = ([[1.0, 0.5], [0.2, 1.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    cached_model, plain_model = StubModel(), StubModel()
    cached = losses.CachedMultipleNegativesRankingLoss(cached_model, mini_batch_size=2)
    cached([column(r) for r in rows]).backward()
    plain = losses.MultipleNegativesRankingLoss(plain_model)
    embeddings = [plain_model(column(r))["sentence_embedding"] for r in rows]
    value = plain.compute_loss_from_embeddings(embeddings)
    value.backward()
    assert torch.allclose(cached_model.weight.grad, plain_model.weight.grad)


def gist_pair(cached: bool, **kwargs):
    model, guide = StubModel(), StubModel()
    with torch.no_grad():
        guide.weight.copy_(torch.tensor([[1.0, 0.2], [0.1, 1.0]]))
    if cached:
        return model, losses.CachedGISTEmbedLoss(model, guide, mini_batch_size=2, **kwargs)
    return model, losses.GISTEmbedLoss(model, guide, **kwargs)


def test_gist_sim_matrix_by_hand():
    _, loss = gist_pair(cached=False)
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    b = torch.tensor([[3.0, 4.0], [0.0, -1.0]])
    assert np.allclose(loss.sim_matrix(a, b), [[0.6, 0.0], [0.8, -1.0]])
    _, cached = gist_pair(cached=True)
    assert np.allclose(cached.sim_matrix(a, b), [[0.6, 0.0], [0.8, -1.0]])


def test_cached_gist_embed_minibatch_guide_and_loss_match_uncached():
    rows = ([[1.0, 0.5], [0.2, 1.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    model, cached = gist_pair(cached=True, temperature=0.5)
    reps, guide_reps, state = cached.embed_minibatch(column(rows[0]), 0, 2, with_grad=False, copy_random_state=True)
    assert torch.allclose(guide_reps, cached.guide(column(rows[0][:2]))["sentence_embedding"])
    assert torch.allclose(reps, column(rows[0][:2])["emb"]) and isinstance(state, RandContext)
    assert cached.embed_minibatch(column(rows[0]), 0, 2, with_grad=True, copy_random_state=False)[1] is None
    value = cached([column(r) for r in rows])
    value.backward()
    plain_model, plain = gist_pair(cached=False, temperature=0.5)
    expected = plain([column(r) for r in rows])
    expected.backward()
    assert value.item() == pytest.approx(expected.item())
    assert torch.allclose(model.weight.grad, plain_model.weight.grad)


def test_cached_gist_calculate_loss_and_cache_gradients():
    _, loss = gist_pair(cached=True, temperature=0.5)
    reps = [[torch.tensor([[1.0, 0.0]], requires_grad=True)], [torch.tensor([[0.0, 1.0]], requires_grad=True)]]
    guided = [[torch.tensor([[1.0, 0.0]])], [torch.tensor([[0.0, 1.0]])]]
    value, grads = loss.calculate_loss_and_cache_gradients(reps, guided)
    # one anchor: its positive is the only unmasked candidate (the rest are itself, -inf), so the loss is 0
    assert value.item() == pytest.approx(0.0) and value.requires_grad
    assert [len(column_grads) for column_grads in grads] == [1, 1]
    with pytest.raises(ValueError, match="same length"):
        loss.calculate_loss(reps, guided[:1])


def test_mega_batch_margin_forward_variants_by_hand():
    # cos: a0-p0 1, a0-p1 0.7071; a1-p0 0, a1-p1 0.7071 ->
    # anchor 0: relu(0.8 - 1) + relu(0.7071 - 0.3); anchor 1: relu(0.8 - 0.7071) + relu(0 - 0.3); mean 0.25
    anchors, positives = [[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]]
    loss = losses.MegaBatchMarginLoss(StubModel(), mini_batch_size=1)
    assert loss.forward_mini_batched([column(anchors), column(positives)]).item() == pytest.approx(0.25)
    assert loss.forward_non_mini_batched([column(anchors), column(positives)]).item() == pytest.approx(0.25)
    with pytest.raises(ValueError, match="exactly 2 columns"):
        loss.forward_non_mini_batched([column(anchors)])


# --------------------------------------------------------------------------------------- MSELoss and friends
def test_mse_loss_is_embed_distill_with_mse(tmp_path):
    loss = losses.MSELoss(StubModel(), projection_dim=3)
    assert isinstance(loss, EmbedDistillLoss) and loss.distance_metric == "mse"
    plain = losses.MSELoss(StubModel())
    # (1-3)^2 + (2-2)^2 over 2 values = 2 for column 1; column 2 equals its teacher
    value = plain.compute_loss_from_embeddings(
        [torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 1.0]])],
        teacher_embeddings=[torch.tensor([[3.0, 2.0]]), torch.tensor([[0.0, 1.0]])],
    )
    assert value.item() == pytest.approx(1.0)  # mean over the two columns of 2 and 0
    path = tmp_path / "projection.safetensors"
    loss.save_projection(path)
    plain.load_projection(path)
    assert plain.projection_dim == 3
    assert torch.equal(plain.projection.weight, loss.projection.weight.to(plain.projection.weight.dtype))
    with pytest.raises(ValueError, match="needs pre-computed teacher embeddings"):
        losses.MSELoss(StubModel())([column([[1.0, 0.0]])], None)


def test_shrink_takes_upstream_argument_name():
    assert np.allclose(shrink(tensor=torch.tensor([[3.0, 4.0, 12.0]]), dim=2), [[0.6, 0.8]])


def test_transformer_decorator_grow_and_use_cache():
    config = SimpleNamespace(output_hidden_states=False)
    seen = []
    layers = (torch.zeros(1, 2, 2), torch.ones(1, 2, 2))

    def original_forward(features, **kwargs):
        seen.append(config.output_hidden_states)
        return {**features, "all_layer_embeddings": layers, "token_embeddings": layers[-1]}

    decorator = TransformerDecorator(SimpleNamespace(auto_model=SimpleNamespace(config=config)), original_forward)
    output = decorator.call_grow_cache({"input_ids": torch.ones(1, 2)})
    assert seen == [True] and config.output_hidden_states is False and output["token_embeddings"] is layers[1]
    decorator.set_layer_idx(0)
    replayed = decorator.call_use_cache({"input_ids": torch.ones(1, 2)})
    assert replayed["token_embeddings"] is layers[0] and len(seen) == 1


# ------------------------------------------------------------------------------------------ similarity & data
def test_similarity_function_maxsim_members_by_hand():
    assert SimilarityFunction("maxsim") is SimilarityFunction.MAXSIM
    assert SimilarityFunction.MEAN_MAXSIM.value == "meanmaxsim"
    assert SimilarityFunction.to_similarity_fn("maxsim") is maxsim
    assert SimilarityFunction.to_similarity_fn(SimilarityFunction.MEAN_MAXSIM) is mean_maxsim
    assert SimilarityFunction.to_similarity_pairwise_fn("maxsim") is maxsim_pairwise
    query = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    document = torch.tensor([[[1.0, 0.0], [0.5, 0.5]]])
    # query token 1 -> max(1, 0.5), token 2 -> max(0, 0.5): 1.5; divided by 2 query tokens: 0.75
    assert np.allclose(SimilarityFunction.to_similarity_fn("maxsim")(query, document), [[1.5]])
    assert np.allclose(SimilarityFunction.to_similarity_fn("meanmaxsim")(query, document), [[0.75]])
    assert {"maxsim", "meanmaxsim"} <= set(SimilarityFunction.possible_values())


def test_denoising_dataset_default_noise_deletes_words():
    sentence = "one two three four five six seven eight"
    random.seed(0)
    np.random.seed(0)
    example = DenoisingAutoEncoderDataset([sentence])[0]
    damaged, original = example.texts
    assert original == sentence
    words = damaged.split()
    assert 0 < len(words) < 8 and all(word in sentence.split() for word in words)
    assert DenoisingAutoEncoderDataset([sentence], noise_fn=str.upper)[0].texts[0] == sentence.upper()


# ---------------------------------------------------------------------------------------------- evaluators
class RecordingModel(EncodeStub):
    """An encode stub that also records the keyword arguments of every call."""

    def __init__(self, table):
        super().__init__(table)
        self.kwargs: list[tuple[str, dict]] = []

    def _encode(self, role, sentences, **kwargs):
        self.kwargs.append((role, kwargs))
        return super()._encode(role, sentences, **kwargs)


TABLE = {"q": [1.0, 0.0], "d1": [1.0, 0.0], "d2": [0.0, 1.0], "d3": [1.0, 1.0]}


def ir_evaluator(**kwargs) -> InformationRetrievalEvaluator:
    return InformationRetrievalEvaluator(
        queries={"q": "q"}, corpus={"c": "d1", "a": "d2", "b": "d3"}, relevant_docs={"q": {"a"}}, **kwargs
    )


def test_ir_get_corpus_id_ranks_and_embed_inputs():
    evaluator = ir_evaluator()
    # ids c, a, b sorted: a (0), b (1), c (2)
    assert evaluator.get_corpus_id_ranks().tolist() == [2, 0, 1]
    model = RecordingModel(TABLE)
    embeddings = evaluator.embed_inputs(model, ["q"], encode_fn_name="query", prompt_name="p", prompt="x: ")
    assert isinstance(embeddings, torch.Tensor) and embeddings.tolist() == [[1.0, 0.0]]
    role, kwargs = model.kwargs[-1]
    assert role == "query" and kwargs["prompt_name"] == "p" and kwargs["prompt"] == "x: "
    evaluator.embed_inputs(model, ["d1"], encode_fn_name="document")
    assert model.kwargs[-1][0] == "document"


def test_ir_output_scores_logs_like_upstream(caplog):
    evaluator = ir_evaluator(accuracy_at_k=[1], precision_recall_at_k=[1], mrr_at_k=[3], ndcg_at_k=[3], map_at_k=[3])
    scores = {
        "accuracy@k": {1: 0.5},
        "precision@k": {1: 0.25},
        "recall@k": {1: 0.125},
        "mrr@k": {3: 0.5},
        "ndcg@k": {3: 0.6309},
        "map@k": {3: 0.5},
    }
    with caplog.at_level(logging.INFO, logger="sentence_transformers"):
        evaluator.output_scores(scores)
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "Accuracy@1: 50.00%",
        "Precision@1: 25.00%",
        "Recall@1: 12.50%",
        "MRR@3: 0.5000",
        "NDCG@3: 0.6309",
        "MAP@3: 0.5000",
    ]


def test_reranking_2x_aliases_and_embed_inputs():
    samples = [{"query": "q", "positive": ["d1"], "negative": ["d2", "d3"]}]
    evaluator = RerankingEvaluator(samples, at_k=3)
    assert RerankingEvaluator.compute_metrices_batched is RerankingEvaluator.compute_metrics_batched
    assert RerankingEvaluator.compute_metrices_individual is RerankingEvaluator.compute_metrics_individual
    model = RecordingModel(TABLE)
    # the positive d1 ranks first: AP, MRR and NDCG are 1
    assert evaluator.compute_metrices_individual(model) == pytest.approx({"map": 1.0, "mrr": 1.0, "ndcg": 1.0})
    evaluator.embed_inputs(model, ["d2"], encode_fn_name="document")
    assert model.kwargs[-1][0] == "document" and model.kwargs[-1][1]["show_progress_bar"] is None
    evaluator.embed_inputs(model, ["q"], "query", show_progress_bar=True)
    assert model.kwargs[-1][0] == "query" and model.kwargs[-1][1]["show_progress_bar"] is True


def test_triplet_embed_inputs_encode_fn_name():
    evaluator = TripletEvaluator(["q"], ["d1"], ["d2"])
    model = RecordingModel(TABLE)
    embeddings = evaluator.embed_inputs(model, ["d3"], encode_fn_name="document")
    assert model.kwargs[-1][0] == "document" and np.allclose(embeddings, [[1.0, 1.0]])
    evaluator.embed_inputs(model, ["q"])
    assert model.kwargs[-1][0] == "encode"


def test_nano_beir_information_retrieval_class(monkeypatch):
    def load_dataset(path, name=None, split=None, **kwargs):
        if name == "corpus":
            return Dataset.from_dict({"_id": ["d1", "d2"], "text": ["d1", "d2"]})
        if name == "queries":
            return Dataset.from_dict({"_id": ["q"], "text": ["q"]})
        return Dataset.from_dict({"query-id": ["q"], "corpus-id": ["d1"]})

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)

    class Recording(InformationRetrievalEvaluator):
        pass

    class Custom(NanoBEIREvaluator):
        information_retrieval_class = Recording

    assert NanoBEIREvaluator.information_retrieval_class is InformationRetrievalEvaluator
    evaluator = Custom(dataset_names=["msmarco"])
    assert [type(inner) for inner in evaluator.evaluators] == [Recording]
    metrics = evaluator(EncodeStub(TABLE))
    # q equals d1, the relevant document: NDCG@10 is 1
    assert metrics["NanoBEIR_mean_cosine_ndcg@10"] == pytest.approx(1.0)
