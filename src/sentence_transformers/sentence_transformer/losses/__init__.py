"""Every training loss."""

from sentence_transformers.sentence_transformer.losses.adaptive_layer_loss import AdaptiveLayerLoss
from sentence_transformers.sentence_transformer.losses.angle_loss import AnglELoss
from sentence_transformers.sentence_transformer.losses.batch_all_triplet_loss import BatchAllTripletLoss
from sentence_transformers.sentence_transformer.losses.batch_hard_soft_margin_triplet_loss import (
    BatchHardSoftMarginTripletLoss,
)
from sentence_transformers.sentence_transformer.losses.batch_hard_triplet_loss import (
    BatchHardTripletLoss,
    BatchHardTripletLossDistanceFunction,
)
from sentence_transformers.sentence_transformer.losses.batch_semi_hard_triplet_loss import BatchSemiHardTripletLoss
from sentence_transformers.sentence_transformer.losses.cached_gist_embed_loss import CachedGISTEmbedLoss
from sentence_transformers.sentence_transformer.losses.cached_multiple_negatives_ranking_loss import (
    CachedMultipleNegativesRankingLoss,
)
from sentence_transformers.sentence_transformer.losses.cached_multiple_negatives_symmetric_ranking_loss import (
    CachedMultipleNegativesSymmetricRankingLoss,
)
from sentence_transformers.sentence_transformer.losses.contrastive_loss import ContrastiveLoss, SiameseDistanceMetric
from sentence_transformers.sentence_transformer.losses.contrastive_tension_loss import (
    ContrastiveTensionDataLoader,
    ContrastiveTensionLoss,
    ContrastiveTensionLossInBatchNegatives,
)
from sentence_transformers.sentence_transformer.losses.cosent_loss import CoSENTLoss
from sentence_transformers.sentence_transformer.losses.cosine_similarity_loss import CosineSimilarityLoss
from sentence_transformers.sentence_transformer.losses.denoising_auto_encoder_loss import (
    DenoisingAutoEncoderDataset,
    DenoisingAutoEncoderLoss,
)
from sentence_transformers.sentence_transformer.losses.distill_kl_div_loss import DistillKLDivLoss
from sentence_transformers.sentence_transformer.losses.gist_embed_loss import GISTEmbedLoss
from sentence_transformers.sentence_transformer.losses.margin_mse_loss import MarginMSELoss
from sentence_transformers.sentence_transformer.losses.matryoshka_2d_loss import Matryoshka2dLoss
from sentence_transformers.sentence_transformer.losses.matryoshka_loss import MatryoshkaLoss
from sentence_transformers.sentence_transformer.losses.mega_batch_margin_loss import MegaBatchMarginLoss
from sentence_transformers.sentence_transformer.losses.mse_loss import MSELoss
from sentence_transformers.sentence_transformer.losses.multiple_negatives_ranking_loss import (
    MultipleNegativesRankingLoss,
)
from sentence_transformers.sentence_transformer.losses.multiple_negatives_symmetric_ranking_loss import (
    MultipleNegativesSymmetricRankingLoss,
)
from sentence_transformers.sentence_transformer.losses.online_contrastive_loss import OnlineContrastiveLoss
from sentence_transformers.sentence_transformer.losses.softmax_loss import SoftmaxLoss
from sentence_transformers.sentence_transformer.losses.triplet_loss import TripletDistanceMetric, TripletLoss

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
    "GISTEmbedLoss",
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
