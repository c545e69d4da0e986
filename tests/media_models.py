"""Tiny seeded models with Hugging Face processors, built offline: CLIP (text and image towers), image-only (ViT),
audio (AST) and a vision-language model with a chat template (LLaVA). Shared by the tests, the compatibility
scripts and bench/images.py."""

from __future__ import annotations

import json
from pathlib import Path

import torch

CLIP_WORDS = ["a", "photo", "of", "cat", "dog", "red", "blue", "green", "square", "the", "is", "on", "table", "picture"]
LLAVA_WORDS = "a photo of cat dog red blue green square the is on table picture what this hello query".split()
# Renders text items as text and image items as the <image> placeholder, each message as "role: content".
LLAVA_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}:{% if m['content'] is string %} {{ m['content'] }}{% else %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %} <image>{% else %} {{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}\n{% endfor %}"
)


def build_tiny_clip(folder: Path, seed: int = 0) -> Path:
    """A seeded tiny Hugging Face CLIPModel with a CLIPProcessor (BPE tokenizer over CLIP_WORDS, 32×32 images)."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPProcessor, CLIPTokenizer
    from transformers import CLIPModel as HFCLIPModel

    folder.mkdir(parents=True, exist_ok=True)
    chars = sorted({char for word in CLIP_WORDS for char in word})
    vocab = {token: index for index, token in enumerate(chars + [f"{char}</w>" for char in chars])}
    merges: list[str] = []
    for word in CLIP_WORDS:  # merge each word left to right
        parts = [*word[:-1], word[-1] + "</w>"]
        while len(parts) > 1:
            merges.append(f"{parts[0]} {parts[1]}")
            parts = [parts[0] + parts[1], *parts[2:]]
            vocab.setdefault(parts[0], len(vocab))
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=16)
    torch.manual_seed(seed)
    tower = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4}
    text_config = {
        **tower,
        "vocab_size": len(tokenizer),
        "max_position_embeddings": 16,
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    config = CLIPConfig(
        text_config=text_config, vision_config={**tower, "image_size": 32, "patch_size": 8}, projection_dim=16
    )
    HFCLIPModel(config).save_pretrained(folder)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def build_tiny_vit(folder: Path) -> Path:
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    torch.manual_seed(0)
    config = ViTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, image_size=32, patch_size=8
    )
    ViTModel(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def build_tiny_ast(folder: Path) -> Path:
    from transformers import ASTConfig, ASTFeatureExtractor, ASTModel

    torch.manual_seed(0)
    config = ASTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        num_mel_bins=32,
        max_length=64,
        frequency_stride=16,
        time_stride=16,
        patch_size=16,
    )
    ASTModel(config).save_pretrained(folder)
    ASTFeatureExtractor(num_mel_bins=32, max_length=64).save_pretrained(folder)
    return folder


def build_tiny_llava(folder: Path) -> Path:
    """A LLaVA model (CLIP vision tower, Llama text model) with a word-level tokenizer and a chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        AutoModel,
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    specials = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
    vocab = {token: index for index, token in enumerate(specials + LLAVA_WORDS + [":", "\n", ".", "user", "system"])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )
    tokenizer.chat_template = LLAVA_TEMPLATE
    image_processor = CLIPImageProcessor(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16})
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=8,
        vision_feature_select_strategy="default",
        chat_template=LLAVA_TEMPLATE,
        num_additional_image_tokens=1,
    )
    tower = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2}
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(**tower, image_size=16, patch_size=8),
        text_config=LlamaConfig(**tower, num_key_value_heads=2, vocab_size=len(vocab), pad_token_id=3),
        image_token_index=vocab["<image>"],
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
