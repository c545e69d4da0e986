"""Helpers over embeddings and the environment; each lives in a submodule and is re-exported here.

``from sentence_transformers.util import cos_sim`` and ``from sentence_transformers.util.similarity import cos_sim``
name the same function. Nothing here imports datasets, accelerate or scipy up front: those load on first use.
"""

from __future__ import annotations

from sentence_transformers._lazy import lazy_attributes
from sentence_transformers.util.dataset import resolve_ids
from sentence_transformers.util.decorators import save_to_hub_args_decorator
from sentence_transformers.util.distributed import (
    all_gather,
    all_gather_padded,
    all_gather_with_grad,
    get_rank,
    get_world_size,
)
from sentence_transformers.util.environment import (
    check_package_availability,
    check_version_requirements,
    get_device_name,
    is_accelerate_available,
    is_datasets_available,
    is_dist_initialized,
    is_training_available,
)
from sentence_transformers.util.file_io import (
    disabled_tqdm,
    http_get,
    is_sentence_transformer_model,
    load_dir_path,
    load_file_path,
)
from sentence_transformers.util.logging import LoggingHandler, install_logger
from sentence_transformers.util.misc import (
    ORIGINAL_TRANSFORMER_MODELS,
    append_to_last_row,
    check_teacher_targets,
    disable_datasets_caching,
    disable_logging,
    fullname,
    import_from_string,
    import_module_class,
    similarity_fct_name,
)
from sentence_transformers.util.quantization import quantize_embeddings
from sentence_transformers.util.retrieval import (
    community_detection,
    information_retrieval,
    paraphrase_mining,
    paraphrase_mining_embeddings,
    semantic_search,
)
from sentence_transformers.util.similarity import (
    SimilarityFunction,
    cos_sim,
    dot_score,
    euclidean_sim,
    manhattan_sim,
    maxsim,
    maxsim_pairwise,
    mean_maxsim,
    mean_maxsim_pairwise,
    normalize_embeddings,
    pairwise_angle_sim,
    pairwise_cos_sim,
    pairwise_dot_score,
    pairwise_euclidean_sim,
    pairwise_manhattan_sim,
    pytorch_cos_sim,
)
from sentence_transformers.util.tensor import (
    _convert_to_batch,
    _convert_to_batch_tensor,
    _convert_to_tensor,
    _move_tensors_to_cpu,
    batch_to_device,
    cat_padded_token_embeddings,
    compute_count_vector,
    repad_flattened_features,
    select_max_active_dims,
    stack_padded_token_embeddings,
    to_scipy_coo,
    truncate_embeddings,
)

# Names imported on first access: their modules pull in heavy dependencies (or are written separately).
_LAZY = {
    "mine_hard_negatives": "sentence_transformers.util.hard_negatives",
    "multi_vector_search": "sentence_transformers.util.multi_vector_retrieval",
    "MultiVectorIndex": "sentence_transformers.util.multi_vector_index",
}


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


__all__ = [
    "ORIGINAL_TRANSFORMER_MODELS",
    "LoggingHandler",
    "MultiVectorIndex",
    "SimilarityFunction",
    "_convert_to_batch",
    "_convert_to_batch_tensor",
    "_convert_to_tensor",
    "_move_tensors_to_cpu",
    "all_gather",
    "all_gather_padded",
    "all_gather_with_grad",
    "append_to_last_row",
    "batch_to_device",
    "cat_padded_token_embeddings",
    "check_package_availability",
    "check_teacher_targets",
    "check_version_requirements",
    "community_detection",
    "compute_count_vector",
    "cos_sim",
    "disable_datasets_caching",
    "disable_logging",
    "disabled_tqdm",
    "dot_score",
    "euclidean_sim",
    "fullname",
    "get_device_name",
    "get_rank",
    "get_world_size",
    "http_get",
    "import_from_string",
    "import_module_class",
    "information_retrieval",
    "install_logger",
    "is_accelerate_available",
    "is_datasets_available",
    "is_dist_initialized",
    "is_sentence_transformer_model",
    "is_training_available",
    "load_dir_path",
    "load_file_path",
    "manhattan_sim",
    "maxsim",
    "maxsim_pairwise",
    "mean_maxsim",
    "mean_maxsim_pairwise",
    "mine_hard_negatives",
    "multi_vector_search",
    "normalize_embeddings",
    "pairwise_angle_sim",
    "pairwise_cos_sim",
    "pairwise_dot_score",
    "pairwise_euclidean_sim",
    "pairwise_manhattan_sim",
    "paraphrase_mining",
    "paraphrase_mining_embeddings",
    "pytorch_cos_sim",
    "quantize_embeddings",
    "repad_flattened_features",
    "resolve_ids",
    "save_to_hub_args_decorator",
    "semantic_search",
    "similarity_fct_name",
    "to_scipy_coo",
    "truncate_embeddings",
    "select_max_active_dims",
    "stack_padded_token_embeddings",
]
