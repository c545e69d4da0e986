"""BaseModel: the model that chains modules (load, save, device, encode).

Upstream splits its model types (SentenceTransformer, CrossEncoder, SparseEncoder) over one base class. sbert has one
model type, so that class is the base: ``BaseModel`` names ``SentenceTransformer``, and ``isinstance`` checks and
type hints written against either name hold.
"""

from sentence_transformers.sentence_transformer.model import SentenceTransformer as BaseModel

__all__ = ["BaseModel"]
