"""Random-weight BLIP-2 and BLIP models of named sizes, for tests (tiny) and benchmarks (small, full).

Nothing here downloads anything: the tokenizer is a byte-level BPE trained in memory on a short
English text, and the weights are random, so the output is gibberish but the shapes, the special
tokens and the code paths are those of the real checkpoints.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    Blip2Config,
    Blip2ForConditionalGeneration,
    Blip2Processor,
    Blip2QFormerConfig,
    Blip2VisionConfig,
    BlipConfig,
    BlipForConditionalGeneration,
    BlipImageProcessorPil,
    BlipProcessor,
    BlipTextConfig,
    BlipVisionConfig,
    GenerationConfig,
    OPTConfig,
    PreTrainedTokenizerFast,
    T5Config,
)

Size = Literal["tiny", "small", "full"]
LanguageModel = Literal["opt", "t5"]

#: Standard deviation for every random weight; the vision config's default (1e-10) makes all images alike.
INIT_STD = 0.02
IMAGE_TOKEN = "<image>"

_CORPUS = """
A photo of a dog sitting on the grass in a park. A cat is sleeping on a red couch near the window.
Two people are walking down a busy street in the city at night. A man is riding a bicycle along the
river. A woman holds an umbrella in the rain. The kitchen table has a bowl of fruit, a cup of coffee
and a plate of bread. There is a small boat on the lake under a blue sky with white clouds. Children
play football on a green field. A bus stops at the corner next to a tall building. The mountain is
covered with snow and the trees are dark. A bird sits on a branch. The sign says open. The room is
bright and the walls are yellow. A laptop, a phone and a pair of glasses lie on the desk. The car is
parked in front of the house. Someone is cooking dinner on the stove. A group of friends smile at
the camera. The beach has golden sand and the sea is calm. An old bridge crosses the river in the
morning fog. Flowers grow in the garden: roses, tulips and daisies. The train arrives at the station.
Question: what color is the car? Answer: the car is red. Question: how many people are in the photo?
Answer: there are three people. Question: is it raining? Answer: yes, it is raining. Question: what
is the dog doing? Answer: the dog is running. Question: where is the cat? Answer: on the couch.
Question: what does the sign say? Answer: it says open. Question: what time of day is it? Answer: it
is evening. Question: is there any text? Answer: no, there is no text. Question: what is on the
table? Answer: a bowl of fruit and a cup. The picture shows a quiet street with shops, a bakery, a
bookshop and a small cafe with chairs outside. A child is reading a book. A horse stands in a field
near a fence. The sky is orange at sunset. One, two, three, four, five, six, seven, eight, nine, ten.
"""


@dataclass(frozen=True, slots=True)
class _Blip2Size:
    vision_hidden: int
    vision_layers: int
    vision_intermediate: int
    vision_heads: int
    image_size: int
    patch_size: int
    qformer_hidden: int
    qformer_layers: int
    qformer_heads: int
    num_query_tokens: int
    text_hidden: int
    text_layers: int
    text_ffn: int
    text_heads: int
    text_max_positions: int
    text_vocab: int  # 0 means "the tokenizer's size"
    tokenizer_vocab: int


_BLIP2_SIZES: dict[str, _Blip2Size] = {
    "tiny": _Blip2Size(32, 2, 64, 4, 32, 8, 32, 2, 4, 8, 32, 2, 64, 4, 128, 0, 400),
    "small": _Blip2Size(384, 6, 1536, 6, 224, 14, 384, 2, 6, 32, 512, 8, 2048, 8, 2048, 50304, 1000),
    "full": _Blip2Size(1408, 39, 6144, 16, 224, 14, 768, 12, 12, 32, 2560, 32, 10240, 32, 2048, 50304, 1000),
}

#: BLIP-2's Flan-T5 XL language model, for `size="full", language_model="t5"`.
_FLAN_T5_XL = replace(_BLIP2_SIZES["full"], text_hidden=2048, text_layers=24, text_ffn=5120, text_vocab=32128)


def build_tokenizer(
    specials: list[str],
    *,
    template: str,
    pair_template: str,
    vocab_size: int = 400,
    **special_roles: str,
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `_CORPUS`; `specials` get ids 0, 1, ... in order, then `<image>`.

    `template`/`pair_template` are `tokenizers` post-processor templates ("</s> $A" for OPT);
    `special_roles` maps roles to tokens (bos_token="</s>", pad_token="<pad>", ...).
    """
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator([_CORPUS], trainer=trainer)
    used = sorted({t for t in template.split() + pair_template.split() if not t.startswith("$")})
    backend.post_processor = processors.TemplateProcessing(
        single=template,
        pair=pair_template,
        special_tokens=[(t, backend.token_to_id(t)) for t in used],
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, **special_roles)
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    return tokenizer


def _opt_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    # OPT's GPT-2 tokenizer: <s>=0, <pad>=1, </s>=2 (both bos and eos), <unk>=3, and bos prepended.
    return build_tokenizer(
        ["<s>", "<pad>", "</s>", "<unk>"],
        template="</s> $A",
        pair_template="</s> $A $B",
        vocab_size=vocab_size,
        bos_token="</s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        padding_side="left",
    )


def _t5_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    # T5: <pad>=0 (also the decoder start), </s>=1 appended, <unk>=2.
    return build_tokenizer(
        ["<pad>", "</s>", "<unk>"],
        template="$A </s>",
        pair_template="$A </s> $B </s>",
        vocab_size=vocab_size,
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )


def _text_config(spec: _Blip2Size, language_model: LanguageModel, vocab: int) -> OPTConfig | T5Config:
    if language_model == "opt":
        return OPTConfig(
            vocab_size=vocab,
            hidden_size=spec.text_hidden,
            word_embed_proj_dim=spec.text_hidden,
            num_hidden_layers=spec.text_layers,
            ffn_dim=spec.text_ffn,
            num_attention_heads=spec.text_heads,
            max_position_embeddings=spec.text_max_positions,
            pad_token_id=1,
            bos_token_id=2,
            eos_token_id=2,
            dropout=0.0,
            init_std=INIT_STD,
        )
    # Flan-T5 family: gated GELU, untied embeddings, decoder starts from <pad>.
    return T5Config(
        vocab_size=vocab,
        d_model=spec.text_hidden,
        d_kv=spec.text_hidden // spec.text_heads,
        d_ff=spec.text_ffn,
        num_layers=spec.text_layers,
        num_heads=spec.text_heads,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=False,
        dropout_rate=0.0,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )


def blip2_tokenizer(size: Size, language_model: LanguageModel = "opt") -> PreTrainedTokenizerFast:
    """The in-memory tokenizer for a random BLIP-2: OPT-style or T5-style special tokens, plus `<image>`."""
    vocab = _BLIP2_SIZES[size].tokenizer_vocab
    return _opt_tokenizer(vocab) if language_model == "opt" else _t5_tokenizer(vocab)


def blip2_config(
    size: Size, language_model: LanguageModel = "opt", tokenizer: PreTrainedTokenizerFast | None = None
) -> Blip2Config:
    """The architecture of a random BLIP-2 of `size`, without any weights (cheap even for "full")."""
    spec = _BLIP2_SIZES[size]
    if language_model == "t5" and size == "full":
        spec = _FLAN_T5_XL
    tokenizer = tokenizer or blip2_tokenizer(size, language_model)
    # For small and full the embedding table is the real models' size, larger than this tokenizer.
    vocab = spec.text_vocab or len(tokenizer)
    return Blip2Config(
        vision_config=Blip2VisionConfig(
            hidden_size=spec.vision_hidden,
            intermediate_size=spec.vision_intermediate,
            num_hidden_layers=spec.vision_layers,
            num_attention_heads=spec.vision_heads,
            image_size=spec.image_size,
            patch_size=spec.patch_size,
            initializer_range=INIT_STD,
        ),
        qformer_config=Blip2QFormerConfig(
            hidden_size=spec.qformer_hidden,
            num_hidden_layers=spec.qformer_layers,
            num_attention_heads=spec.qformer_heads,
            intermediate_size=spec.qformer_hidden * 4,
            encoder_hidden_size=spec.vision_hidden,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
        ),
        text_config=_text_config(spec, language_model, vocab),
        num_query_tokens=spec.num_query_tokens,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        initializer_range=INIT_STD,
    )


#: How much the tiny model's Q-Former cross-attention is strengthened (see `make_photos_matter`).
CROSS_ATTENTION_GAIN = 30.0


def make_photos_matter(model: Blip2ForConditionalGeneration) -> None:
    """Strengthen the Q-Former's reading of the photo, which tiny random weights leave negligible.

    At random init the tiny model's image features vary across photos by under 1% of their size,
    and every photo gets the same answer: a cache or a batch mixing photos up would go unnoticed.
    Scaling the cross-attention's value and output weights makes the photo decide the answer, as in
    a trained model. The larger sizes do not need it (and the benchmark's compute is unchanged).
    """
    with torch.no_grad():
        for layer in model.qformer.encoder.layer:
            if layer.has_cross_attention:
                layer.crossattention.attention.value.weight.mul_(CROSS_ATTENTION_GAIN)
                layer.crossattention.output.dense.weight.mul_(CROSS_ATTENTION_GAIN)


def build_blip2(
    size: Size,
    language_model: LanguageModel = "opt",
    seed: int = 0,
    *,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[Blip2ForConditionalGeneration, Blip2Processor]:
    """A random-weight BLIP-2 of the given size in eval mode, and its processor.

    The weights are made where and as they will be used, on `device` ("full" is 15 GB in fp32,
    quicker to fill on a GPU) in `dtype` but for what `from_pretrained` keeps in fp32: a model for
    fp16 never exists in fp32 on the way.
    """
    spec = _BLIP2_SIZES[size]
    tokenizer = blip2_tokenizer(size, language_model)
    config = blip2_config(size, language_model, tokenizer)
    with torch.random.fork_rng(devices=[]), torch.device(device), _default_dtype(dtype):
        torch.manual_seed(seed)
        model = Blip2ForConditionalGeneration(config)
        # The query tokens start at zero, which would make the Q-Former's output image-independent.
        with torch.no_grad():
            model.query_tokens.normal_(0.0, INIT_STD)
        if size == "tiny":
            make_photos_matter(model)
    keep_in_fp32(model, dtype)
    model.generation_config = _generation_config(config.text_config)
    # Blip2's `generate` hands over to the language model's own `generate`, which reads its own config.
    model.language_model.generation_config = _generation_config(config.text_config)
    model.eval()
    image_processor = BlipImageProcessorPil(size={"height": spec.image_size, "width": spec.image_size})
    processor = Blip2Processor(
        image_processor=image_processor, tokenizer=tokenizer, num_query_tokens=spec.num_query_tokens
    )
    return model, processor


@contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Layers built meanwhile allocate their weights in `dtype`."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def keep_in_fp32(model: Blip2ForConditionalGeneration, dtype: torch.dtype) -> None:
    """Upcast what `from_pretrained(..., dtype=dtype)` keeps in fp32, names matched as it matches them.

    For BLIP-2 in fp16 that is the Q-Former, its query tokens and Flan-T5's `wo` projections (the
    model's `_keep_in_fp32_modules`); in bf16 only `_keep_in_fp32_modules_strict`, empty here.
    """
    half = dtype in (torch.float16, torch.bfloat16)
    keep = set(model._keep_in_fp32_modules_strict or ()) if half else set()
    keep |= set(model._keep_in_fp32_modules or ()) if dtype == torch.float16 else set()
    pattern = re.compile("|".join(name.replace("*", ".*") for name in sorted(keep)))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if keep and pattern.search(name):
                parameter.data = parameter.data.float()


def _generation_config(text_config: OPTConfig | T5Config) -> GenerationConfig:
    kwargs = {
        "pad_token_id": text_config.pad_token_id,
        "eos_token_id": text_config.eos_token_id,
        "bos_token_id": getattr(text_config, "bos_token_id", None),
    }
    if text_config.is_encoder_decoder:
        kwargs["decoder_start_token_id"] = text_config.pad_token_id
    return GenerationConfig(**kwargs)


def save_blip2(
    directory: str | Path, size: Size, language_model: LanguageModel = "opt", seed: int = 0
) -> Path:
    """Build a random BLIP-2 and save model and processor so `from_pretrained(directory)` loads them."""
    directory = Path(directory)
    model, processor = build_blip2(size, language_model, seed)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def build_blip(seed: int = 0) -> tuple[BlipForConditionalGeneration, BlipProcessor]:
    """A tiny random-weight BLIP (v1) captioning model and its processor."""
    # BERT-style ids: [CLS] $A [SEP]; BLIP swaps [CLS] for [DEC] (its bos) and stops at [SEP].
    tokenizer = build_tokenizer(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[DEC]"],
        template="[CLS] $A [SEP]",
        pair_template="[CLS] $A [SEP] $B [SEP]",
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        bos_token="[DEC]",
    )
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ("[PAD]", "[SEP]", "[DEC]")}
    config = BlipConfig(
        text_config=BlipTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            encoder_hidden_size=32,
            intermediate_size=64,
            projection_dim=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=128,
            bos_token_id=ids["[DEC]"],
            eos_token_id=ids["[SEP]"],
            sep_token_id=ids["[SEP]"],
            pad_token_id=ids["[PAD]"],
        ),
        vision_config=BlipVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            projection_dim=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
            initializer_range=INIT_STD,
        ),
        projection_dim=32,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BlipForConditionalGeneration(config)
    model.eval()
    processor = BlipProcessor(
        image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}), tokenizer=tokenizer
    )
    return model, processor


def save_blip(directory: str | Path, seed: int = 0) -> Path:
    """Build a tiny random BLIP captioner and save it so `from_pretrained(directory)` loads it."""
    directory = Path(directory)
    model, processor = build_blip(seed)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
