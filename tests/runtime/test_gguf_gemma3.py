"""A Gemma 3 GGUF (the architecture of the catalogue's `gemma3-270m` base, which `finetune` trains)
converts into a transformers folder that computes what the GGUF holds: a tiny random Gemma 3 is
written as GGUF here (F32 tensors, llama.cpp's conventions), converted by `models.resolve_model`,
and compared logit for logit. The 253 MB model itself is never used in tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from tuichat.runtime import adapter_files, models

SPECIAL = ["<pad>", "<eos>", "<bos>", "<unk>"]
PIECES = ["\u2581", *"abcdefghijklmnopqrstuvwxyz", "he", "ll", "llo", "hello", "\u2581hello", "wo", "wor", "ld", "world",
          "\u2581world", "\u4f60", "\u597d", "\u4f60\u597d"]


def _tiny_gemma3():
    import torch
    from transformers import AutoModelForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    # head_dim 256 as in every Gemma 3 but the 27B: the GGUF's attention scale (1/sqrt(key_length))
    # then equals transformers' query_pre_attn_scalar default, as for the real 270M model.
    config = Gemma3TextConfig(vocab_size=len(SPECIAL) + len(PIECES), hidden_size=64, intermediate_size=96,
                              num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=256,
                              max_position_embeddings=256, sliding_window=4, bos_token_id=2, eos_token_id=1,
                              pad_token_id=0, tie_word_embeddings=True)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    with torch.no_grad():  # random norms, so a lost (1 + w) offset would show in the logits
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.normal_(0.0, 0.3)
    return model


def _write_gguf(model, path: Path) -> Path:
    import gguf

    c = model.config
    writer = gguf.GGUFWriter(str(path), "gemma3")
    writer.add_name("Tiny Gemma 3")
    writer.add_context_length(c.max_position_embeddings)
    writer.add_embedding_length(c.hidden_size)
    writer.add_block_count(c.num_hidden_layers)
    writer.add_feed_forward_length(c.intermediate_size)
    writer.add_head_count(c.num_attention_heads)
    writer.add_head_count_kv(c.num_key_value_heads)
    writer.add_key_length(c.head_dim)
    writer.add_value_length(c.head_dim)
    writer.add_layer_norm_rms_eps(c.rms_norm_eps)
    writer.add_rope_freq_base(c.rope_parameters["full_attention"]["rope_theta"])
    writer.add_sliding_window(c.sliding_window)
    tokens = SPECIAL + PIECES
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * len(tokens))
    writer.add_token_types([3] * len(SPECIAL) + [1] * len(PIECES))  # 3 = control, 1 = normal
    writer.add_bos_token_id(2)
    writer.add_eos_token_id(1)
    writer.add_unk_token_id(3)
    writer.add_pad_token_id(0)
    writer.add_add_bos_token(True)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA3, c.num_hidden_layers)
    for key, tensor in model.state_dict().items():
        if key == "lm_head.weight":
            continue  # tied to the embeddings, as in the real file
        data = tensor.numpy()
        if key.endswith("norm.weight"):
            data = data + 1.0  # llama.cpp stores Gemma's RMSNorm scale as (1 + w)
        writer.add_tensor(names.get_name(key, try_suffixes=(".weight",)), data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def gemma3_gguf(tmp_path_factory):
    model = _tiny_gemma3()
    return model, _write_gguf(model, tmp_path_factory.mktemp("gemma3") / "tiny-gemma3.gguf")


def test_gemma3_gguf_converts_to_the_same_model(gemma3_gguf):
    import torch
    from transformers import AutoModelForCausalLM

    original, gguf_path = gemma3_gguf
    folder = models.resolve_model(str(gguf_path), progress=lambda _t: None)
    assert models.resolve_model(str(gguf_path), progress=lambda _t: None) == folder  # converted once
    converted = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    assert converted.config.model_type == "gemma3_text" and converted.config.sliding_window == 4
    ids = torch.tensor([[2, 5, 9, 14, 20, 7, 33, 11, 4, 30]])  # longer than the sliding window
    with torch.no_grad():
        want, got = original(input_ids=ids).logits, converted(input_ids=ids).logits
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert adapter_files.base_fingerprint(converted) == adapter_files.base_fingerprint(original)


def test_gemma3_gguf_tokenizer_keeps_bos_and_the_vocabulary(gemma3_gguf):
    from transformers import AutoTokenizer

    folder = models.resolve_model(str(gemma3_gguf[1]), progress=lambda _t: None)
    tok = AutoTokenizer.from_pretrained(str(folder))
    ids = tok("hello world \u4f60\u597d")["input_ids"]
    # BOS first (finetune's Alpaca prompt for a template-less base relies on it), whole-word pieces merged.
    assert ids[0] == tok.bos_token_id == 2 and tok.eos_token_id == 1
    assert tok.convert_ids_to_tokens(ids[1:]) == ["hello", "\u2581world", "\u2581", "\u4f60\u597d"]
    assert tok.decode(ids, skip_special_tokens=True) == "hello world \u4f60\u597d"
