"""Every training loss."""

from sentence_transformers.sentence_transformer.datasets.denoising_auto_encoder import DenoisingAutoEncoderDataset
from sentence_transformers.sentence_transformer.losses.adaptive_layer import AdaptiveLayerLoss
from sentence_transformers.sentence_transformer.losses.angle import AnglELoss
from sentence_transformers.sentence_transformer.losses.batch_all_triplet import BatchAllTripletLoss
from sentence_transformers.sentence_transformer.losses.batch_hard_soft_margin_triplet import (
    BatchHardSoftMarginTripletLoss,
)
from sentence_transformers.sentence_transformer.losses.batch_hard_triplet import (
    BatchHardTripletLoss,
    BatchHardTripletLossDistanceFunction,
)
from sentence_transformers.sentence_transformer.losses.batch_semi_hard_triplet import BatchSemiHardTripletLoss
from sentence_transformers.sentence_transformer.losses.cached_gist_embed import CachedGISTEmbedLoss
from sentence_transformers.sentence_transformer.losses.cached_multiple_negatives_ranking import (
    CachedMultipleNegativesRankingLoss,
)
from sentence_transformers.sentence_transformer.losses.cached_multiple_negatives_symmetric_ranking import (
    CachedMultipleNegativesSymmetricRankingLoss,
)
from sentence_transformers.sentence_transformer.losses.contrastive import ContrastiveLoss, SiameseDistanceMetric
from sentence_transformers.sentence_transformer.losses.contrastive_tension import (
    ContrastiveTensionDataLoader,
    ContrastiveTensionLoss,
    ContrastiveTensionLossInBatchNegatives,
)
from sentence_transformers.sentence_transformer.losses.cosent import CoSENTLoss
from sentence_transformers.sentence_transformer.losses.cosine_similarity import CosineSimilarityLoss
from sentence_transformers.sentence_transformer.losses.denoising_auto_encoder import DenoisingAutoEncoderLoss
from sentence_transformers.sentence_transformer.losses.distill_kl_div import DistillKLDivLoss
from sentence_transformers.sentence_transformer.losses.embed_distill import EmbedDistillLoss
from sentence_transformers.sentence_transformer.losses.gist_embed import GISTEmbedLoss
from sentence_transformers.sentence_transformer.losses.global_orthogonal_regularization import (
    GlobalOrthogonalRegularizationLoss,
)
from sentence_transformers.sentence_transformer.losses.margin_mse import MarginMSELoss
from sentence_transformers.sentence_transformer.losses.matryoshka import MatryoshkaLoss
from sentence_transformers.sentence_transformer.losses.matryoshka_2d import Matryoshka2dLoss
from sentence_transformers.sentence_transformer.losses.mega_batch_margin import MegaBatchMarginLoss
from sentence_transformers.sentence_transformer.losses.mse import MSELoss
from sentence_transformers.sentence_transformer.losses.multiple_negatives_ranking import (
    MultipleNegativesRankingLoss,
)
from sentence_transformers.sentence_transformer.losses.multiple_negatives_symmetric_ranking import (
    MultipleNegativesSymmetricRankingLoss,
)
from sentence_transformers.sentence_transformer.losses.online_contrastive import OnlineContrastiveLoss
from sentence_transformers.sentence_transformer.losses.softmax import SoftmaxLoss
from sentence_transformers.sentence_transformer.losses.triplet import TripletDistanceMetric, TripletLoss

__all__ = [
    "AdaptiveLayerLoss",
    "AnglELoss",
    "BatchAllTripletLoss",
    "BatchHardSoftMarginTripletLoss",
    "BatchHardTripletLoss",
    "BatchHardTripletLossDistanceFunction",
    "BatchSemiHardTripletLoss",
    "CachedGISTEmbedLoss",
    "CachedMultipleNegativesRankingLoss",
    "CachedMultipleNegativesSymmetricRankingLoss",
    "CoSENTLoss",
    "ContrastiveLoss",
    "ContrastiveTensionDataLoader",
    "ContrastiveTensionLoss",
    "ContrastiveTensionLossInBatchNegatives",
    "CosineSimilarityLoss",
    "DenoisingAutoEncoderDataset",
    "DenoisingAutoEncoderLoss",
    "DistillKLDivLoss",
    "EmbedDistillLoss",
    "GISTEmbedLoss",
    "GlobalOrthogonalRegularizationLoss",
    "MSELoss",
    "MarginMSELoss",
    "Matryoshka2dLoss",
    "MatryoshkaLoss",
    "MegaBatchMarginLoss",
    "MultipleNegativesRankingLoss",
    "MultipleNegativesSymmetricRankingLoss",
    "OnlineContrastiveLoss",
    "SiameseDistanceMetric",
    "SoftmaxLoss",
    "TripletDistanceMetric",
    "TripletLoss",
]
