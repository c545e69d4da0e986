"""model.compile(): the Hugging Face models inside compiled in place, so that encode runs the compiled graphs."""

from __future__ import annotations

import pytest
import torch

from sentence_transformers import SentenceTransformer


def test_compile_compiles_the_transformer_and_keeps_the_outputs(tiny_bert_dir):
    model = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    texts = ["the quick brown fox", "a dog", "the fox jumps over the lazy dog again"]
    expected = model.encode(texts, convert_to_tensor=True)
    model.compile()
    inner = model[0].auto_model
    assert inner._compiled_call_impl is not None  # nn.Module.compile in place: module calls run the compiled graph
    assert model._compiled_call_impl is None  # the pipeline itself stays eager (encode calls its forward)
    torch.testing.assert_close(model.encode(texts, convert_to_tensor=True), expected, atol=1e-5, rtol=0)


def test_freeze_traces_with_inductor_freezing_and_keeps_the_outputs(tiny_bert_dir):
    import torch._inductor.config as inductor_config

    model = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    texts = ["the quick brown fox", "a dog", "the fox jumps over the lazy dog again"]
    expected = model.encode(texts, convert_to_tensor=True)
    model.compile(options={"freezing": True})  # torch.compile alone would not apply it: same as freeze=True
    call = model[0].auto_model._compiled_call_impl
    seen = []
    compiled = call.compiled
    call.compiled = lambda *args, **kwargs: seen.append(inductor_config.freezing) or compiled(*args, **kwargs)
    got = model.encode(texts, convert_to_tensor=True)
    assert seen and all(seen) and not inductor_config.freezing  # on while the graph runs (and traces), off after
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_freeze_needs_the_inductor_backend(tiny_bert_dir):
    model = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    with pytest.raises(ValueError, match="inductor"):
        model.compile(backend="eager", freeze=True)
