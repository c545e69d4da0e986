"""Small helpers: class names for configs, importing classes named in configs, logging/caching switches, CSV rows."""

from __future__ import annotations

import csv
import functools
import importlib
import logging
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from inspect import isclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

logger = logging.getLogger(__name__)


def fullname(obj: Any) -> str:
    """``module.ClassName`` of an object or class, used to name classes in saved JSON configs.

    Builtins give just the class name (``fullname(3) == "int"``).
    """
    cls = obj if isclass(obj) else type(obj)
    module = cls.__module__
    if module is None or module == "builtins":
        return cls.__name__
    return f"{module}.{cls.__name__}"


def similarity_fct_name(similarity_fct: Callable) -> str:
    """Readable name of a loss's scoring callable for its config dict.

    ``functools.partial`` objects show their keywords (``cos_sim(eps=0.1)``), objects with ``get_config_dict`` show
    their settings, and ``model.similarity`` / ``model.similarity_pairwise`` report the function the model's
    ``similarity_fn_name`` resolves to.
    """
    if isinstance(similarity_fct, functools.partial):
        inner = getattr(similarity_fct.func, "__name__", type(similarity_fct.func).__name__)
        args = ", ".join(f"{key}={value!r}" for key, value in similarity_fct.keywords.items())
        return f"{inner}({args})" if args else inner
    name = getattr(similarity_fct, "__name__", type(similarity_fct).__name__)
    owner = getattr(similarity_fct, "__self__", None)
    if name in ("similarity", "similarity_pairwise") and hasattr(owner, "similarity_fn_name"):
        from sentence_transformers.util.similarity import SimilarityFunction

        if name == "similarity":
            return SimilarityFunction.to_similarity_fn(owner.similarity_fn_name).__name__
        return SimilarityFunction.to_similarity_pairwise_fn(owner.similarity_fn_name).__name__
    get_config_dict = getattr(similarity_fct, "get_config_dict", None)
    if callable(get_config_dict):
        args = ", ".join(f"{key}={value!r}" for key, value in get_config_dict().items())
        return f"{name}({args})"
    return name


def check_teacher_targets(
    teacher_probabilities: Tensor, teacher_logits: Tensor, teacher_temperature: float, loss_name: str
) -> None:
    """Check a distillation loss's teacher target (meant for its first forward only: reading it syncs the device).

    Raises ValueError when the teacher scores hold NaN (every gradient would become NaN). Warns when the softmax
    underflowed some probabilities to exactly 0 (those candidates then carry no gradient), suggesting a higher
    temperature. Infinite scores are deliberate exclusions and skip the underflow check.
    """
    scores = teacher_logits.detach().float()
    if scores.isnan().any():
        raise ValueError(
            f"{loss_name}: the teacher scores contain NaN, so the loss and every gradient would be NaN after the "
            "first backward. Check the column holding your teacher scores."
        )
    if scores.isinf().any():
        return
    underflowed = int((teacher_probabilities == 0).sum())
    if underflowed == 0:
        return
    spread = (scores.max(dim=-1).values - scores.min(dim=-1).values).max().item()
    logger.warning(
        f"{loss_name}: teacher_temperature={teacher_temperature} underflows {underflowed} of "
        f"{teacher_probabilities.numel()} teacher scores to exactly zero, so those candidates carry no gradient. "
        f"The widest candidate row spans {spread:.1f}, and a float32 softmax underflows once a row's spread "
        f"divided by the temperature exceeds about 100. Raise teacher_temperature above {spread / 100:.3g}."
    )


def import_from_string(dotted_path: str) -> type:
    """Import ``package.module.Name`` and return ``Name``; raises ImportError with a clear message on failure.

    When the whole path is itself a module (as 2.x paths like ``sentence_transformers.models.Pooling`` are, whose
    module holds a class of the same name), that module's attribute ``Name`` is returned.
    """
    if not isinstance(dotted_path, str) or "." not in dotted_path:
        raise ImportError(f"{dotted_path!r} doesn't look like a module path: expected 'package.module.Name'")
    module_path, attribute = dotted_path.rsplit(".", 1)
    # Paths come from saved model configs, which may still name deprecated (aliased) module paths.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            module = importlib.import_module(dotted_path)
        except Exception:  # noqa: BLE001 - not a module: import its parent and take the attribute
            try:
                module = importlib.import_module(module_path)
            except ImportError as exc:
                raise ImportError(f"Could not import {dotted_path!r}: no module {module_path!r} ({exc})") from exc
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ImportError(f'Module "{module_path}" does not define a "{attribute}" attribute/class') from None


def import_module_class(
    class_ref: str,
    model_name_or_path: str | None = None,
    *,
    trust_remote_code: bool = False,
    revision: str | None = None,
    code_revision: str | None = None,
    token: bool | str | None = None,
    cache_folder: str | None = None,
    local_files_only: bool = False,
) -> type:
    """Resolve a module class named in a model's modules.json to the class.

    ``sentence_transformers.*`` references are imported directly. Any other reference runs code chosen by the model
    (a repository's ``modeling_*.py`` or an installed package), so with a ``model_name_or_path`` it needs
    ``trust_remote_code=True``; it is then fetched via transformers' dynamic module loading, falling back to a plain
    import.

    Raises:
        ValueError: A non-``sentence_transformers`` class with ``model_name_or_path`` set and no trust_remote_code.
        ImportError: The class cannot be imported.
    """
    if class_ref.startswith("sentence_transformers."):
        return import_from_string(class_ref)
    if model_name_or_path is not None:
        if not trust_remote_code:
            location = (
                os.path.abspath(model_name_or_path)
                if os.path.isdir(model_name_or_path)
                else f"https://hf.co/{model_name_or_path}"
            )
            raise ValueError(
                f"The model {model_name_or_path} references the module class {class_ref!r}, which is not part of "
                f"Sentence Transformers. Importing it executes third-party code; you can inspect it at {location}.\n"
                "Please pass the argument `trust_remote_code=True` to allow custom code to be run."
            )
        from transformers.dynamic_module_utils import get_class_from_dynamic_module

        try:
            return get_class_from_dynamic_module(
                class_ref,
                model_name_or_path,
                revision=revision,
                code_revision=code_revision,
                token=token,
                cache_dir=cache_folder,
                local_files_only=local_files_only,
            )
        except (OSError, ValueError):
            pass  # no such modeling file in the repository, or not a "module.Class" reference: import it instead
    return import_from_string(class_ref)


@contextmanager
def disable_datasets_caching() -> Iterator[None]:
    """Turn off the ``datasets`` library's cache for the duration of the block (restored afterwards)."""
    from datasets import disable_caching, enable_caching, is_caching_enabled

    was_enabled = is_caching_enabled()
    try:
        if was_enabled:
            disable_caching()
        yield
    finally:
        if was_enabled:
            enable_caching()


@contextmanager
def disable_logging(highest_level: int = logging.CRITICAL) -> Iterator[None]:
    """Drop every log record at ``highest_level`` or below during the block (``logging.disable``), then restore."""
    previous = logging.root.manager.disable
    logging.disable(highest_level)
    try:
        yield
    finally:
        logging.disable(previous)


def append_to_last_row(csv_path: str | os.PathLike, additional_data: Iterable[Any]) -> bool:
    """Append values to the last data row of a CSV file (rewriting it); False when the file has no data row."""
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 2:  # a header alone has no data row to extend
        return False
    rows[-1].extend(additional_data)
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return True


# Hub models that live at the hub's root although they have no "/" in their name: such names are not prefixed with
# "sentence-transformers/" (or "cross-encoder/", ...) when a model is loaded by its short name.
ORIGINAL_TRANSFORMER_MODELS = [
    "albert-base-v1",
    "albert-base-v2",
    "albert-large-v1",
    "albert-large-v2",
    "albert-xlarge-v1",
    "albert-xlarge-v2",
    "albert-xxlarge-v1",
    "albert-xxlarge-v2",
    "bert-base-cased-finetuned-mrpc",
    "bert-base-cased",
    "bert-base-chinese",
    "bert-base-german-cased",
    "bert-base-german-dbmdz-cased",
    "bert-base-german-dbmdz-uncased",
    "bert-base-multilingual-cased",
    "bert-base-multilingual-uncased",
    "bert-base-uncased",
    "bert-large-cased-whole-word-masking-finetuned-squad",
    "bert-large-cased-whole-word-masking",
    "bert-large-cased",
    "bert-large-uncased-whole-word-masking-finetuned-squad",
    "bert-large-uncased-whole-word-masking",
    "bert-large-uncased",
    "camembert-base",
    "ctrl",
    "distilbert-base-cased-distilled-squad",
    "distilbert-base-cased",
    "distilbert-base-german-cased",
    "distilbert-base-multilingual-cased",
    "distilbert-base-uncased-distilled-squad",
    "distilbert-base-uncased-finetuned-sst-2-english",
    "distilbert-base-uncased",
    "distilgpt2",
    "distilroberta-base",
    "gpt2-large",
    "gpt2-medium",
    "gpt2-xl",
    "gpt2",
    "openai-gpt",
    "roberta-base-openai-detector",
    "roberta-base",
    "roberta-large-mnli",
    "roberta-large-openai-detector",
    "roberta-large",
    "t5-11b",
    "t5-3b",
    "t5-base",
    "t5-large",
    "t5-small",
    "transfo-xl-wt103",
    "xlm-clm-ende-1024",
    "xlm-clm-enfr-1024",
    "xlm-mlm-100-1280",
    "xlm-mlm-17-1280",
    "xlm-mlm-en-2048",
    "xlm-mlm-ende-1024",
    "xlm-mlm-enfr-1024",
    "xlm-mlm-enro-1024",
    "xlm-mlm-tlm-xnli15-1024",
    "xlm-mlm-xnli15-1024",
    "xlm-roberta-base",
    "xlm-roberta-large-finetuned-conll02-dutch",
    "xlm-roberta-large-finetuned-conll02-spanish",
    "xlm-roberta-large-finetuned-conll03-english",
    "xlm-roberta-large-finetuned-conll03-german",
    "xlm-roberta-large",
    "xlnet-base-cased",
    "xlnet-large-cased",
]
