"""Upstream's old home of the CrossEncoder argument decorators; they live in ``util.decorators``."""

from sentence_transformers.util.decorators import (  # noqa: F401
    cross_encoder_init_args_decorator,
    cross_encoder_predict_rank_args_decorator,
)
