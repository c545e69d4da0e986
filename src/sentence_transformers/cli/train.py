"""``sbert train``: fine-tune a model on a file of text pairs, triplets or scored pairs, through
SentenceTransformerTrainer, and save it with a model card that records the run.

The file (.csv, .tsv, .jsonl or .parquet, read as ``sbert evaluate`` reads it) gives the loss its columns in order:
``anchor, positive[, negative…]`` for the in-batch-negatives losses, ``anchor, positive, negative`` for TripletLoss,
``sentence1, sentence2, score`` for the scored-pair losses and ``sentence1, sentence2, label`` (1 similar, 0 not) for
the contrastive ones. Without ``--loss``, a file whose last column holds numbers trains CoSENTLoss, any other
MultipleNegativesRankingLoss. Training logs and progress go to stderr; with ``--eval``, stdout gets the STS metrics
before and after training as ``metric<TAB>before<TAB>after`` lines.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sentence_transformers.cli import UsageError
from sentence_transformers.cli.evaluate import Table, is_number, read_table, sts_evaluator

if TYPE_CHECKING:
    from datasets import Dataset

    from sentence_transformers import SentenceTransformer


@dataclass(frozen=True)
class LossSpec:
    """The columns a loss trains on: ``texts`` (at least ``min_texts``; more negatives when ``more_negatives``), then
    a number column ``label`` if any. ``in_batch``: it uses in-batch negatives (so no text twice in a batch)."""

    texts: tuple[str, ...]
    min_texts: int
    label: str | None = None
    more_negatives: bool = False
    in_batch: bool = False

    def describe(self) -> str:
        """e.g. ``(anchor, positive[, negative…])``."""
        required, optional = self.texts[: self.min_texts], self.texts[self.min_texts :]
        names = ", ".join((*required, *([self.label] if self.label else [])))
        if optional:
            names += "".join(f"[, {name}" for name in optional) + ("…" if self.more_negatives else "")
            names += "]" * len(optional)
        return f"({names})"

    def column_names(self, count: int) -> list[str]:
        """Names for ``count`` columns: the texts (extra negatives numbered), then the label."""
        texts = count - (1 if self.label else 0)
        names = list(self.texts[:texts]) + [f"negative_{index}" for index in range(2, texts - len(self.texts) + 2)]
        return names + ([self.label] if self.label else [])


_TRIPLETS = ("anchor", "positive", "negative")
_SCORED = ("sentence1", "sentence2")
LOSSES: dict[str, LossSpec] = {
    "MultipleNegativesRankingLoss": LossSpec(_TRIPLETS, 2, more_negatives=True, in_batch=True),
    "CachedMultipleNegativesRankingLoss": LossSpec(_TRIPLETS, 2, more_negatives=True, in_batch=True),
    "MultipleNegativesSymmetricRankingLoss": LossSpec(_TRIPLETS, 2, more_negatives=True, in_batch=True),
    "TripletLoss": LossSpec(_TRIPLETS, 3),
    "CoSENTLoss": LossSpec(_SCORED, 2, label="score"),
    "AnglELoss": LossSpec(_SCORED, 2, label="score"),
    "CosineSimilarityLoss": LossSpec(_SCORED, 2, label="score"),
    "ContrastiveLoss": LossSpec(_SCORED, 2, label="label"),
    "OnlineContrastiveLoss": LossSpec(_SCORED, 2, label="label"),
}


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The ``train`` subcommand's arguments."""
    train = commands.add_parser(
        "train",
        help="fine-tune a model on pairs, triplets or scored pairs",
        description="Fine-tune a model on a file of text pairs, triplets or scored pairs; save it with a model card.",
        epilog="examples:\n  sbert train all-MiniLM-L6-v2 pairs.csv -o my-model --epochs 1 --eval sts-dev.csv\n"
        "  sbert train all-MiniLM-L6-v2 scored.jsonl --loss CoSENTLoss --score-scale 5 -o my-model",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("model", metavar="MODEL", help="model folder or hub name to start from")
    train.add_argument("data", metavar="DATA", help="training rows: .csv, .tsv, .jsonl or .parquet")
    train.add_argument("-o", "--output", required=True, help="folder to save the trained model in")
    train.add_argument("--loss", help=f"one of: {', '.join(LOSSES)} (default: from the columns)")
    train.add_argument("--epochs", type=float, default=1.0, help="passes over the data (default 1)")
    train.add_argument("-b", "--batch-size", type=int, default=16, help="rows per step (default 16)")
    train.add_argument("--lr", type=float, default=2e-5, help="learning rate (default 2e-5)")
    train.add_argument("--warmup-ratio", type=float, default=0.1, help="share of the steps warming up (default 0.1)")
    train.add_argument("--max-steps", type=int, help="stop after this many steps (overrides --epochs)")
    train.add_argument("--score-scale", type=float, help="divide the scores by this (e.g. 5 for 0-5 scores)")
    train.add_argument("--eval", metavar="FILE", help="STS file (text, text, score) to evaluate before and after")
    train.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    train.add_argument("--device", help="cpu, cuda, mps, … (default: the best available)")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    train.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    """Check the arguments and read the files, load the model, train, save, and print the evaluations."""
    _check_arguments(args)
    table = read_table(args.data)
    if not table.rows:
        raise ValueError(f"{args.data} has no rows")
    loss_name = resolve_loss(args.loss, table)
    dataset = build_dataset(loss_name, table, args.score_scale)
    scale = args.score_scale
    evaluator = sts_evaluator(args.eval, None, scale, args.batch_size, not args.no_progress) if args.eval else None
    if args.loss is None:
        print(f"sbert: training with {loss_name} (pass --loss to choose)", file=sys.stderr)  # noqa: T201
    from sentence_transformers import SentenceTransformer, losses

    model = SentenceTransformer(args.model, device=args.device)
    _describe_datasets(model, args)
    before = evaluator(model) if evaluator else {}
    state = train(model, getattr(losses, loss_name)(model), dataset, args, LOSSES[loss_name].in_batch)
    after = evaluator(model, epoch=int(state.epoch or 0), steps=state.global_step) if evaluator else {}
    model.save(args.output)
    steps = f"{state.global_step} step{'s' * (state.global_step != 1)}"
    print(f"sbert: trained {loss_name} for {steps} on {len(table.rows)} rows → {args.output}", file=sys.stderr)  # noqa: T201
    if evaluator:
        print("metric\tbefore\tafter")  # noqa: T201
        for name in sorted(after):
            print(f"{name}\t{float(before[name])!r}\t{float(after[name])!r}")  # noqa: T201
    return 0


def _check_arguments(args: argparse.Namespace) -> None:
    """Values argparse accepts but training cannot use."""
    checks = [
        (args.epochs > 0, f"--epochs must be positive, got {args.epochs}"),
        (args.batch_size >= 1, f"--batch-size must be at least 1, got {args.batch_size}"),
        (args.lr > 0, f"--lr must be positive, got {args.lr}"),
        (0 <= args.warmup_ratio < 1, f"--warmup-ratio must be in [0, 1), got {args.warmup_ratio}"),
        (args.max_steps is None or args.max_steps >= 1, f"--max-steps must be at least 1, got {args.max_steps}"),
        (args.score_scale is None or args.score_scale > 0, f"--score-scale must be positive, got {args.score_scale}"),
    ]
    for ok, message in checks:
        if not ok:
            raise UsageError(message)
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise UsageError(f"-o {args.output}: a file, not a folder")


def resolve_loss(name: str | None, table: Table) -> str:
    """The loss's name as LOSSES spells it (any case); None: CoSENTLoss for a last column of numbers, else MNRL."""
    if name is None:
        return "CoSENTLoss" if is_number(table.rows[0][-1]) else "MultipleNegativesRankingLoss"
    for known in LOSSES:
        if known.lower() == name.lower():
            return known
    raise UsageError(f"unknown loss {name!r}; supported: {', '.join(LOSSES)}")


def build_dataset(loss_name: str, table: Table, score_scale: float | None) -> Dataset:
    """The file's columns in order, named as the loss expects; a UsageError says when they do not fit it."""
    from datasets import Dataset

    spec = LOSSES[loss_name]
    _check_fit(loss_name, spec, table)
    if score_scale is not None and spec.label != "score":
        raise UsageError(f"--score-scale is for the scored-pair losses, not {loss_name}")
    names = spec.column_names(len(table.columns))
    texts = len(names) - (1 if spec.label else 0)
    data: dict[str, list[Any]] = {
        name: table.texts(column) for name, column in zip(names[:texts], table.columns[:texts], strict=True)
    }
    if spec.label:
        data[spec.label] = [value / (score_scale or 1.0) for value in table.numbers(table.columns[-1])]
    return Dataset.from_dict(data)


def _check_fit(loss_name: str, spec: LossSpec, table: Table) -> None:
    """Whether the file's columns (their number, and whether the last holds numbers) are what the loss takes."""
    count, last = len(table.columns), table.columns[-1]
    numbers_last = is_number(table.rows[0][-1])
    if spec.label is None and numbers_last:
        raise UsageError(
            f"{loss_name} trains on texts {spec.describe()}, but the last column of {table.path} ({last!r}) holds "
            "numbers; for scored pairs use CoSENTLoss or CosineSimilarityLoss"
        )
    if spec.label and not numbers_last:
        raise UsageError(
            f"{loss_name} trains on rows {spec.describe()}, but the last column of {table.path} ({last!r}) is not "
            "a number; for pairs or triplets of texts use MultipleNegativesRankingLoss"
        )
    texts = count - (1 if spec.label else 0)
    most = None if spec.more_negatives else len(spec.texts)
    if texts < spec.min_texts or (most is not None and texts > most):
        found = f"{count} column{'s' * (count != 1)} ({', '.join(table.columns)})"
        raise UsageError(f"{loss_name} trains on rows {spec.describe()}, but {table.path} has {found}")


def _describe_datasets(model: SentenceTransformer, args: argparse.Namespace) -> None:
    """Name the training and evaluation files in the model card."""
    card = model.model_card_data
    card.train_datasets = [*card.train_datasets, os.path.basename(args.data)]
    if args.eval:
        card.eval_datasets = [*card.eval_datasets, os.path.basename(args.eval)]


def train(model: SentenceTransformer, loss: Any, dataset: Dataset, args: argparse.Namespace, in_batch: bool) -> Any:
    """Run SentenceTransformerTrainer (its logs, printed to stdout, go to stderr); returns the trainer's state."""
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    with tempfile.TemporaryDirectory(prefix="sbert-train-") as scratch:  # nothing is saved there (save_strategy no)
        training_args = SentenceTransformerTrainingArguments(
            output_dir=scratch,
            num_train_epochs=args.epochs,
            max_steps=args.max_steps or -1,
            per_device_train_batch_size=args.batch_size,
            learning_rate=args.lr,
            warmup_steps=args.warmup_ratio,  # below 1: a share of the steps
            seed=args.seed,
            batch_sampler="no_duplicates" if in_batch else "batch_sampler",
            save_strategy="no",
            report_to="none",
            logging_steps=0.1,  # ten log lines over the run, in the model card's training logs too
            disable_tqdm=args.no_progress,
            use_cpu=args.device == "cpu",
        )
        trainer = SentenceTransformerTrainer(model=model, args=training_args, train_dataset=dataset, loss=loss)
        with contextlib.redirect_stdout(sys.stderr):
            trainer.train()
        return trainer.state
