"""Integer quantization arithmetic for edgeir (bit-exact with the TFLite Micro reference)."""
