"""DenoisingAutoEncoderLoss (TSDAE): a decoder rebuilds the original text from the embedding of a damaged copy."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

logger = logging.getLogger(__name__)


class DenoisingAutoEncoderLoss(nn.Module):
    """TSDAE (Wang et al., 2021): encode a noised sentence, decode the original from that single vector.

    The decoder is a causal LM with cross-attention whose only "encoder output" is the sentence embedding, so the
    embedding has to carry the sentence's content. The loss is the decoder's token cross-entropy (padding ignored).

    Args:
        model: The SentenceTransformer to train; its first module must be a Transformer.
        decoder_name_or_path: A Hugging Face causal LM to use as decoder; needed when ``tie_encoder_decoder`` is
            False, ignored otherwise.
        tie_encoder_decoder: Build the decoder from the encoder's own config (as a decoder with cross-attention)
            and share all weights the two have in common; the default.

    Inputs: (noised text, original text) columns, e.g. from :class:`DenoisingAutoEncoderDataset`; no labels.
    """

    def __init__(
        self, model: nn.Module, decoder_name_or_path: str | None = None, tie_encoder_decoder: bool = True
    ) -> None:
        super().__init__()
        encoder = getattr(model[0], "auto_model", None)
        if encoder is None:
            raise ValueError(
                f"DenoisingAutoEncoderLoss needs a Transformer as first module, got {type(model[0]).__name__}"
            )
        if not tie_encoder_decoder and not decoder_name_or_path:
            raise ValueError("decoder_name_or_path is required when tie_encoder_decoder=False")
        if tie_encoder_decoder and decoder_name_or_path:
            logger.warning("tie_encoder_decoder=True: ignoring decoder_name_or_path %r", decoder_name_or_path)
        self.model = model
        self.tokenizer_encoder = model.tokenizer
        if tie_encoder_decoder:
            self.decoder = _tied_decoder(encoder)
            self.tokenizer_decoder = self.tokenizer_encoder
        else:
            self.decoder = _load_decoder(decoder_name_or_path, encoder.config.hidden_size)
            self.tokenizer_decoder = AutoTokenizer.from_pretrained(decoder_name_or_path)
        if self.tokenizer_decoder.pad_token is None:
            self.tokenizer_decoder.pad_token = self.tokenizer_decoder.eos_token
            self.decoder.config.pad_token_id = self.decoder.config.eos_token_id
        self.decoder.to(next(encoder.parameters()).device)
        self.need_retokenization = self.tokenizer_encoder.get_vocab() != self.tokenizer_decoder.get_vocab()

    @property
    def encoder(self) -> nn.Module:
        """Upstream's name for ``model``."""
        return self.model

    def retokenize(self, sentence_features: dict[str, Tensor]) -> dict[str, Tensor]:
        """The original texts tokenized for the decoder (when its vocabulary differs from the encoder's)."""
        input_ids = sentence_features["input_ids"]
        texts = self.tokenizer_encoder.batch_decode(input_ids, skip_special_tokens=True)
        encoded = self.tokenizer_decoder(texts, padding=True, truncation="longest_first", return_tensors="pt")
        return {key: value.to(input_ids.device) for key, value in encoded.items()}

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Token cross-entropy of decoding the original texts from the noised texts' embeddings."""
        source_features, target_features = tuple(sentence_features)
        if self.need_retokenization:
            target_features = self.retokenize(target_features)
        embeddings = self.model(source_features)["sentence_embedding"]
        target_ids = target_features["input_ids"]
        # teacher forcing: read tokens 0..n-2, predict tokens 1..n-1; one cross-attended "token", the embedding
        logits = self.decoder(
            input_ids=target_ids[:, :-1],
            encoder_hidden_states=embeddings.unsqueeze(1),
            encoder_attention_mask=torch.ones_like(target_ids[:, :1]),
            use_cache=False,
        ).logits
        criterion = nn.CrossEntropyLoss(ignore_index=self.tokenizer_decoder.pad_token_id)
        return criterion(logits.reshape(-1, logits.shape[-1]), target_ids[:, 1:].reshape(-1))

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown in model cards."""
        return {
            "decoder_name_or_path": self.decoder.config._name_or_path,
            "need_retokenization": self.need_retokenization,
        }

    @property
    def citation(self) -> str:
        """BibTeX of the paper behind the loss."""
        return WANG_2021


def _decoder_config(config: Any) -> Any:
    config = copy.deepcopy(config)
    config.is_decoder = True
    config.add_cross_attention = True
    return config


def _tied_decoder(encoder: nn.Module) -> nn.Module:
    """A causal LM built from the encoder's config; the encoder's weights become the decoder's shared ones."""
    try:
        decoder = AutoModelForCausalLM.from_config(_decoder_config(encoder.config))
    except ValueError as exc:
        raise ValueError(f"{encoder.config.model_type!r} models cannot act as a decoder (no causal LM head)") from exc
    base = getattr(decoder, decoder.base_model_prefix)
    base.load_state_dict(encoder.state_dict(), strict=False)
    decoder_modules = dict(base.named_modules())
    tied = 0
    for module_name, module in encoder.named_modules():
        twin = decoder_modules.get(module_name)
        if twin is None:
            continue
        for name, parameter in twin.named_parameters(recurse=False):
            if name in module._parameters and module._parameters[name].shape == parameter.shape:
                setattr(module, name, parameter)
                tied += 1
    if tied == 0:
        logger.warning("No encoder weights could be tied to the decoder: different architectures?")
    return decoder


def _load_decoder(name_or_path: str, hidden_size: int) -> nn.Module:
    """A pretrained causal LM with cross-attention added; its hidden size must match the encoder's."""
    config = _decoder_config(AutoConfig.from_pretrained(name_or_path))
    if getattr(config, "hidden_size", hidden_size) != hidden_size:
        raise ValueError(f"Decoder {name_or_path!r} has hidden size {config.hidden_size}, the encoder {hidden_size}")
    try:
        return AutoModelForCausalLM.from_pretrained(name_or_path, config=config)
    except ValueError as exc:
        raise ValueError(f"{name_or_path!r} cannot act as a decoder (no causal LM head)") from exc


WANG_2021 = """
@inproceedings{wang-2021-TSDAE,
    title = "TSDAE: Using Transformer-based Sequential Denoising Auto-Encoderfor Unsupervised Sentence Embedding Learning",
    author = "Wang, Kexin and Reimers, Nils and Gurevych, Iryna",
    booktitle = "Findings of the Association for Computational Linguistics: EMNLP 2021",
    month = nov,
    year = "2021",
    address = "Punta Cana, Dominican Republic",
    publisher = "Association for Computational Linguistics",
    pages = "671--688",
    url = "https://arxiv.org/abs/2104.06979",
}
"""  # noqa: E501
