"""The training data collator shared by model types, and the batch keys the trainer reads.

BaseDataCollator preprocesses every input column with ``model.preprocess`` (it is SentenceTransformer's collator,
whose module still holds it); a model type that preprocesses elsewhere (CrossEncoder: in its losses) subclasses it.
"""

from sentence_transformers.sentence_transformer.data_collator import (
    COLUMNS_KEY,
    DATASET_KEY,
    LABEL_COLUMNS,
    split_features,
)
from sentence_transformers.sentence_transformer.data_collator import SentenceTransformerDataCollator as BaseDataCollator

__all__ = ["COLUMNS_KEY", "DATASET_KEY", "LABEL_COLUMNS", "BaseDataCollator", "split_features"]
