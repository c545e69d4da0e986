"""The 2.x dataset readers: STS (benchmark layout), triplets, labelled sentences, paired files, NLI."""

from __future__ import annotations

import csv
import gzip
import inspect

import pytest

from sentence_transformers.readers import (
    LabelSentenceReader,
    NLIDataReader,
    PairedFilesReader,
    STSBenchmarkDataReader,
    STSDataReader,
    TripletReader,
)

# The real STS benchmark layout: genre, filename, year, id, score, sentence1, sentence2 (tab-separated, no quoting).
STS_DEV = (
    "main-captions\tMSRvid\t2012test\t0000\t5.000\tA man in a hard hat is dancing.\tA man wearing a hard hat dances.\n"
    'main-news\theadlines\t2013\t0042\t2.500\tHe said "no.\tThe cat sat.\n'
    "main-forums\tanswers-forums\t2015\t0007\t0.000\tWhat is 2+2?\tA dog barks.\n"
)
STS_EXPECTED = [
    (["A man in a hard hat is dancing.", "A man wearing a hard hat dances."], 1.0),
    (['He said "no.', "The cat sat."], 0.5),
    (["What is 2+2?", "A dog barks."], 0.0),
]


def _pairs(examples):
    return [(e.texts, e.label) for e in examples]


@pytest.mark.parametrize("name", ["sts-dev.csv", "sts-dev.csv.gz"])
def test_sts_benchmark_reader_reads_the_benchmark_layout(tmp_path, name):
    if name.endswith(".gz"):
        with gzip.open(tmp_path / name, "wt", encoding="utf-8") as f:
            f.write(STS_DEV)
    else:
        (tmp_path / name).write_text(STS_DEV, encoding="utf-8")
    reader = STSBenchmarkDataReader(str(tmp_path))
    examples = reader.get_examples(name)
    assert _pairs(examples) == STS_EXPECTED
    assert [e.guid for e in examples] == [f"{name}0", f"{name}1", f"{name}2"]
    assert _pairs(reader.get_examples(name, max_examples=2)) == STS_EXPECTED[:2]
    raw = STSBenchmarkDataReader(str(tmp_path), normalize_scores=False).get_examples(name)
    assert [e.label for e in raw] == [5.0, 2.5, 0.0]


def test_sts_data_reader_defaults_and_options(tmp_path):
    (tmp_path / "sts.tsv").write_text("a cat\ta dog\t2.5\nx\ty\t5\n")
    examples = STSDataReader(str(tmp_path)).get_examples("sts.tsv")
    assert _pairs(examples) == [(["a cat", "a dog"], 0.5), (["x", "y"], 1.0)]
    (tmp_path / "scores.csv").write_text("4,first,second\n1,third,fourth\n")
    reader = STSDataReader(
        str(tmp_path), s1_col_idx=1, s2_col_idx=2, score_col_idx=0, delimiter=",", min_score=1, max_score=5
    )
    assert _pairs(reader.get_examples("scores.csv")) == [(["first", "second"], 0.75), (["third", "fourth"], 0.0)]
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        reader.get_examples("missing.csv")


def test_sts_benchmark_reader_is_an_sts_reader_with_benchmark_columns():
    assert issubclass(STSBenchmarkDataReader, STSDataReader)
    defaults = {name: p.default for name, p in inspect.signature(STSBenchmarkDataReader).parameters.items()}
    assert defaults == {
        "dataset_folder": inspect.Parameter.empty,
        "s1_col_idx": 5,
        "s2_col_idx": 6,
        "score_col_idx": 4,
        "delimiter": "\t",
        "quoting": csv.QUOTE_NONE,
        "normalize_scores": True,
        "min_score": 0,
        "max_score": 5,
    }
    base = {name: p.default for name, p in inspect.signature(STSDataReader).parameters.items()}
    assert (base["s1_col_idx"], base["s2_col_idx"], base["score_col_idx"]) == (0, 1, 2)


def test_triplet_reader(tmp_path):
    (tmp_path / "triplets.tsv").write_text("anchor\tpos\tneg\na1\tp1\tn1\na2\tp2\tn2\n")
    reader = TripletReader(str(tmp_path), has_header=True)
    assert [e.texts for e in reader.get_examples("triplets.tsv")] == [["a1", "p1", "n1"], ["a2", "p2", "n2"]]
    assert len(reader.get_examples("triplets.tsv", max_examples=1)) == 1
    swapped = TripletReader(str(tmp_path), s1_col_idx=2, s2_col_idx=1, s3_col_idx=0).get_examples("triplets.tsv")
    assert swapped[0].texts == ["neg", "pos", "anchor"] and len(swapped) == 3


def test_label_sentence_reader_maps_labels_to_ids_across_files(tmp_path):
    (tmp_path / "train.tsv").write_text("sports\tgoal!\nnews\telection\nsports\tmatch day\n")
    (tmp_path / "dev.tsv").write_text("weather\train\nnews\tvote\n")
    reader = LabelSentenceReader(str(tmp_path))
    assert _pairs(reader.get_examples("train.tsv")) == [(["goal!"], 0), (["election"], 1), (["match day"], 0)]
    assert _pairs(reader.get_examples("dev.tsv")) == [(["rain"], 2), (["vote"], 1)]
    assert reader.label_map == {"sports": 0, "news": 1, "weather": 2}
    (tmp_path / "swapped.csv").write_text("one;a\ntwo;b\n")
    other = LabelSentenceReader(str(tmp_path), label_col_idx=1, sentence_col_idx=0, separator=";")
    assert _pairs(other.get_examples("swapped.csv", max_examples=1)) == [(["one"], 0)]


def test_paired_files_reader(tmp_path):
    (tmp_path / "en.txt").write_text("hello\ngood morning\nthanks\n")
    with gzip.open(tmp_path / "de.txt.gz", "wt", encoding="utf-8") as f:
        f.write("hallo\nguten Morgen\n")
    reader = PairedFilesReader([str(tmp_path / "en.txt"), str(tmp_path / "de.txt.gz")])
    examples = reader.get_examples()
    assert _pairs(examples) == [(["hello", "hallo"], 1), (["good morning", "guten Morgen"], 1)]
    assert [e.guid for e in examples] == ["0", "1"]
    assert len(reader.get_examples(max_examples=1)) == 1


def test_nli_reader(tmp_path):
    for name, lines in (("s1", "p1\np2\n"), ("s2", "h1\nh2\n"), ("labels", "entailment\ncontradiction\n")):
        with gzip.open(tmp_path / f"{name}.train.gz", "wt") as f:
            f.write(lines)
    reader = NLIDataReader(str(tmp_path))
    nli = reader.get_examples("train.gz")
    assert [(e.texts, e.label) for e in nli] == [(["p1", "h1"], 1), (["p2", "h2"], 0)]
    assert reader.get_num_labels() == 3
    with pytest.raises(FileNotFoundError, match="dev.gz"):
        reader.get_examples("dev.gz")


@pytest.mark.parametrize(
    ("cls", "parameters"),
    [
        (TripletReader, ["dataset_folder", "s1_col_idx", "s2_col_idx", "s3_col_idx", "has_header", "delimiter"]),
        (LabelSentenceReader, ["folder", "label_col_idx", "sentence_col_idx", "separator"]),
        (PairedFilesReader, ["filepaths"]),
    ],
)
def test_reader_parameters_match_upstream(cls, parameters):
    assert list(inspect.signature(cls).parameters)[: len(parameters)] == parameters
