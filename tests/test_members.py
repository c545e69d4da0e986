"""Member for member: every method, property, class attribute and dataclass field of upstream 6.2's public classes
exists in sbert, and every parameter of upstream's signatures is accepted under its name with the same default.

Upstream's side is ``tests/data/upstream_6_2_members.json``, written by ``tests/member_enumerator.py`` run with
upstream's interpreter; sbert's side is described by the same code here. ``python tests/member_enumerator.py
--compare tests/data/upstream_6_2_members.json`` prints the counts and the gaps.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from member_enumerator import compare_class, compare_function, summary

UPSTREAM = json.loads((Path(__file__).parent / "data" / "upstream_6_2_members.json").read_text())

# Upstream members (``public path.member`` or ``public path.member(param)``) sbert leaves out on purpose.
LEFT_OUT: dict[str, str] = {
    "sentence_transformers.base.modules.transformer.set_temporary_class_attrs": "upstream-internal loading hack",
    "sentence_transformers.sentence_transformer.deprecated_model_card_templates.ModelCardTemplate": (
        "upstream's old card template text"
    ),
    "sentence_transformers.sentence_transformer.fit_mixin.EvaluatorCallback": "2.x fit internals (one callback here)",
    "sentence_transformers.sentence_transformer.fit_mixin.OriginalCallback": "2.x fit internals (one callback here)",
    "sentence_transformers.sentence_transformer.fit_mixin.SaveModelCallback": "2.x fit internals (one callback here)",
    "sentence_transformers.cross_encoder.fit_mixin.EvaluatorCallback": "2.x fit internals (one callback here)",
    "sentence_transformers.cross_encoder.fit_mixin.OriginalCallback": "2.x fit internals (one callback here)",
    "sentence_transformers.cross_encoder.fit_mixin.SaveModelCallback": "2.x fit internals (one callback here)",
    "sentence_transformers.base.merging.merge_models(batch_options)": (
        "mergekit's tensor-grouping options; sbert merges tensor by tensor in torch without mergekit"
    ),
    "sentence_transformers.base.BaseModel.merge(batch_options)": "as merge_models(batch_options)",
    "sentence_transformers.sentence_transformer.SentenceTransformer.merge(batch_options)": (
        "as merge_models(batch_options)"
    ),
    "sentence_transformers.cross_encoder.CrossEncoder.merge(batch_options)": "as merge_models(batch_options)",
    "sentence_transformers.sparse_encoder.SparseEncoder.merge(batch_options)": "as merge_models(batch_options)",
    "sentence_transformers.multi_vector_encoder.MultiVectorEncoder.merge(batch_options)": (
        "as merge_models(batch_options)"
    ),
    "sentence_transformers.cross_encoder.CrossEncoder.clear_placement_cache": (
        "belongs to accelerate device_map dispatch (offloading across devices), which sbert does not do yet"
    ),
    "sentence_transformers.sparse_encoder.SparseEncoder.clear_placement_cache": (
        "belongs to accelerate device_map dispatch (offloading across devices), which sbert does not do yet"
    ),
    "sentence_transformers.base.BaseModel.clear_placement_cache": (
        "belongs to accelerate device_map dispatch (offloading across devices), which sbert does not do yet"
    ),
    "sentence_transformers.sentence_transformer.SentenceTransformer.clear_placement_cache": (
        "belongs to accelerate device_map dispatch (offloading across devices), which sbert does not do yet"
    ),
    "sentence_transformers.multi_vector_encoder.MultiVectorEncoder.clear_placement_cache": (
        "belongs to accelerate device_map dispatch (offloading across devices), which sbert does not do yet"
    ),
}


def _gaps(found: dict[str, list[str]], public_as: str) -> list[str]:
    out = []
    for member, gaps in found.items():
        key = f"{public_as}.{member}".rstrip(".")
        out += [
            f"{member}: {gap}" for gap in gaps if key not in LEFT_OUT and f"{key}{gap.split(')')[0]})" not in LEFT_OUT
        ]
    return out


def _cases(kind: str) -> list[dict]:
    items = [item for item in UPSTREAM[kind].values() if item["public_as"] not in LEFT_OUT]
    return sorted(items, key=lambda item: item["public_as"])


def _name(item: dict) -> str:
    return item["public_as"].removeprefix("sentence_transformers.")


@pytest.mark.parametrize("item", _cases("classes"), ids=_name)
def test_every_member_and_parameter_of_upstreams_class(item):
    found, _, _ = compare_class(item)
    assert _gaps(found, item["public_as"]) == []


@pytest.mark.parametrize("item", _cases("functions"), ids=_name)
def test_every_parameter_of_upstreams_function(item):
    gaps, _ = compare_function(item)
    key = item["public_as"]
    assert [gap for gap in gaps if f"{key}{gap.split(')')[0]})" not in LEFT_OUT] == []


def test_left_out_names_only_what_upstream_has():
    """A stale entry (upstream dropped it, or sbert now has it) must leave the list."""
    known = {c["public_as"] for c in UPSTREAM["classes"].values()} | {
        f["public_as"] for f in UPSTREAM["functions"].values()
    }
    members = {f"{c['public_as']}.{m}" for c in UPSTREAM["classes"].values() for m in c["members"]}
    for key in LEFT_OUT:
        assert key.split("(")[0] in known | members, key


def test_the_summary_counts_what_the_tests_check():
    result = summary(UPSTREAM, LEFT_OUT)
    assert result["members"][0] <= result["members"][1]
    assert result["gaps"] == []
