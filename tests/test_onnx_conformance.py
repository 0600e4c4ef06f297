"""ONNX node conformance of the importer and the reference interpreter.

Every ONNX node test case (``onnx.backend.test.case.node.collect_testcases()``) whose model
uses only op types the importer converts (plus Constant) runs through
:class:`compiler.onnx_backend.EdgeirBackend`; each output must match in dtype, shape and
value (the case's rtol/atol). Cases of other op types are ignored: they test other ops.

Cases edgeir deliberately does not support are listed in ``UNSUPPORTED`` with the reason.
They are still tested: importing them must raise an ``EdgeirError`` of kind
"unsupported" (a clear error, never a crash or a wrong answer).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from onnx.backend.test.case.node import collect_testcases

from compiler.diagnostics import EdgeirError
from compiler.frontends.onnx_import import CONVERTERS
from compiler.onnx_backend import EdgeirBackend

SUPPORTED_OPS = frozenset(CONVERTERS) | {"Constant"}

UNSUPPORTED: dict[str, str] = {
    # Models older than opset 13.
    # 3-D convolutions and pools.
    "test_averagepool_3d_default": "3-D AveragePool: edgeir has 1-D and 2-D only",
    "test_averagepool_3d_dilations_large_count_include_pad_is_0_ceil_mode_is_False":
        "3-D AveragePool: edgeir has 1-D and 2-D only",
    "test_averagepool_3d_dilations_large_count_include_pad_is_0_ceil_mode_is_True":
        "3-D AveragePool: edgeir has 1-D and 2-D only",
    "test_averagepool_3d_dilations_large_count_include_pad_is_1_ceil_mode_is_False":
        "3-D AveragePool: edgeir has 1-D and 2-D only",
    "test_averagepool_3d_dilations_large_count_include_pad_is_1_ceil_mode_is_True":
        "3-D AveragePool: edgeir has 1-D and 2-D only",
    "test_averagepool_3d_dilations_small": "3-D AveragePool: edgeir has 1-D and 2-D only",
    "test_convtranspose_3d": "3-D ConvTranspose: edgeir has 1-D and 2-D only",
    "test_maxpool_3d_default": "3-D MaxPool: edgeir has 1-D and 2-D only",
    "test_maxpool_3d_dilations": "3-D MaxPool: edgeir has 1-D and 2-D only",
    "test_maxpool_3d_dilations_use_ref_impl": "3-D MaxPool: edgeir has 1-D and 2-D only",
    "test_maxpool_3d_dilations_use_ref_impl_large": "3-D MaxPool: edgeir has 1-D and 2-D only",
    # Resize modes other than nearest (incl. antialias and tf_crop_and_resize).
    "test_resize_downsample_scales_cubic": "Resize mode cubic: edgeir resizes nearest only",
    "test_resize_downsample_scales_cubic_A_n0p5_exclude_outside":
        "Resize mode cubic: edgeir resizes nearest only",
    "test_resize_downsample_scales_cubic_align_corners":
        "Resize mode cubic: edgeir resizes nearest only",
    "test_resize_downsample_scales_cubic_antialias":
        "Resize mode cubic with antialias: edgeir resizes nearest only",
    "test_resize_downsample_scales_linear": "Resize mode linear: edgeir resizes nearest only",
    "test_resize_downsample_scales_linear_align_corners":
        "Resize mode linear: edgeir resizes nearest only",
    "test_resize_downsample_scales_linear_antialias":
        "Resize mode linear with antialias: edgeir resizes nearest only",
    "test_resize_downsample_scales_linear_half_pixel_symmetric":
        "Resize mode linear: edgeir resizes nearest only",
    "test_resize_downsample_sizes_cubic": "Resize mode cubic: edgeir resizes nearest only",
    "test_resize_downsample_sizes_cubic_antialias":
        "Resize mode cubic with antialias: edgeir resizes nearest only",
    "test_resize_downsample_sizes_linear_antialias":
        "Resize mode linear with antialias: edgeir resizes nearest only",
    "test_resize_downsample_sizes_linear_pytorch_half_pixel":
        "Resize mode linear: edgeir resizes nearest only",
    "test_resize_tf_crop_and_resize":
        "Resize mode linear with tf_crop_and_resize: edgeir resizes nearest only",
    "test_resize_tf_crop_and_resize_axes_2_3":
        "Resize mode linear with tf_crop_and_resize: edgeir resizes nearest only",
    "test_resize_tf_crop_and_resize_axes_3_2":
        "Resize mode linear with tf_crop_and_resize: edgeir resizes nearest only",
    "test_resize_tf_crop_and_resize_extrapolation_value":
        "Resize mode linear with tf_crop_and_resize: edgeir resizes nearest only",
    "test_resize_upsample_scales_cubic": "Resize mode cubic: edgeir resizes nearest only",
    "test_resize_upsample_scales_cubic_A_n0p5_exclude_outside":
        "Resize mode cubic: edgeir resizes nearest only",
    "test_resize_upsample_scales_cubic_align_corners":
        "Resize mode cubic: edgeir resizes nearest only",
    "test_resize_upsample_scales_cubic_asymmetric":
        "Resize mode cubic: edgeir resizes nearest only",
    "test_resize_upsample_scales_linear": "Resize mode linear: edgeir resizes nearest only",
    "test_resize_upsample_scales_linear_align_corners":
        "Resize mode linear: edgeir resizes nearest only",
    "test_resize_upsample_scales_linear_half_pixel_symmetric":
        "Resize mode linear: edgeir resizes nearest only",
    "test_resize_upsample_sizes_cubic": "Resize mode cubic: edgeir resizes nearest only",
    # Training-mode semantics and extra outputs.
    "test_batchnorm_epsilon_training_mode":
        "BatchNormalization in training mode (edgeir is inference only)",
    "test_batchnorm_example_training_mode":
        "BatchNormalization in training mode (edgeir is inference only)",
    "test_dropout_default_mask": "Dropout's mask output",
    "test_dropout_default_mask_ratio": "Dropout's mask output",
    "test_maxpool_with_argmax_2d_precomputed_pads": "MaxPool's Indices output",
    "test_maxpool_with_argmax_2d_precomputed_strides": "MaxPool's Indices output",
    "test_training_dropout": "Dropout in training mode (edgeir is inference only)",
    "test_training_dropout_default": "Dropout in training mode (edgeir is inference only)",
    "test_training_dropout_default_mask": "Dropout in training mode (edgeir is inference only)",
    "test_training_dropout_mask": "Dropout in training mode (edgeir is inference only)",
    "test_training_dropout_zero_ratio": "Dropout in training mode (edgeir is inference only)",
    "test_training_dropout_zero_ratio_mask": "Dropout in training mode (edgeir is inference only)",
    # Blocked quantization.
    "test_dequantizelinear_blocked": "blocked quantization (block_size)",
    "test_quantizelinear_blocked_asymmetric": "blocked quantization (block_size)",
    "test_quantizelinear_blocked_symmetric": "blocked quantization (block_size)",
    # Element types edgeir does not have (uint16/32/64, bfloat16, float8, 4-bit, 2-bit).
    "test_add_uint16": "UINT16 tensors: edgeir has no UINT16 dtype",
    "test_add_uint32": "UINT32 tensors: edgeir has no UINT32 dtype",
    "test_add_uint64": "UINT64 tensors: edgeir has no UINT64 dtype",
    "test_cast_BFLOAT16_to_FLOAT": "BFLOAT16 tensors: edgeir has no BFLOAT16 dtype",
    "test_cast_FLOAT4E2M1_to_FLOAT": "FLOAT4E2M1 tensors: edgeir has no FLOAT4E2M1 dtype",
    "test_cast_FLOAT4E2M1_to_FLOAT16": "FLOAT4E2M1 tensors: edgeir has no FLOAT4E2M1 dtype",
    "test_cast_FLOAT8E4M3FNUZ_to_FLOAT":
        "FLOAT8E4M3FNUZ tensors: edgeir has no FLOAT8E4M3FNUZ dtype",
    "test_cast_FLOAT8E4M3FNUZ_to_FLOAT16":
        "FLOAT8E4M3FNUZ tensors: edgeir has no FLOAT8E4M3FNUZ dtype",
    "test_cast_FLOAT8E4M3FN_to_FLOAT": "FLOAT8E4M3FN tensors: edgeir has no FLOAT8E4M3FN dtype",
    "test_cast_FLOAT8E4M3FN_to_FLOAT16": "FLOAT8E4M3FN tensors: edgeir has no FLOAT8E4M3FN dtype",
    "test_cast_FLOAT8E5M2FNUZ_to_FLOAT":
        "FLOAT8E5M2FNUZ tensors: edgeir has no FLOAT8E5M2FNUZ dtype",
    "test_cast_FLOAT8E5M2FNUZ_to_FLOAT16":
        "FLOAT8E5M2FNUZ tensors: edgeir has no FLOAT8E5M2FNUZ dtype",
    "test_cast_FLOAT8E5M2_to_FLOAT": "FLOAT8E5M2 tensors: edgeir has no FLOAT8E5M2 dtype",
    "test_cast_FLOAT8E5M2_to_FLOAT16": "FLOAT8E5M2 tensors: edgeir has no FLOAT8E5M2 dtype",
    "test_cast_INT2_to_FLOAT": "INT2 tensors: edgeir has no INT2 dtype",
    "test_cast_INT2_to_FLOAT16": "INT2 tensors: edgeir has no INT2 dtype",
    "test_cast_INT2_to_INT8": "INT2 tensors: edgeir has no INT2 dtype",
    "test_cast_INT4_to_FLOAT": "INT4 tensors: edgeir has no INT4 dtype",
    "test_cast_INT4_to_FLOAT16": "INT4 tensors: edgeir has no INT4 dtype",
    "test_cast_INT4_to_INT8": "INT4 tensors: edgeir has no INT4 dtype",
    "test_cast_UINT2_to_FLOAT": "UINT2 tensors: edgeir has no UINT2 dtype",
    "test_cast_UINT2_to_FLOAT16": "UINT2 tensors: edgeir has no UINT2 dtype",
    "test_cast_UINT2_to_UINT8": "UINT2 tensors: edgeir has no UINT2 dtype",
    "test_cast_UINT4_to_FLOAT": "UINT4 tensors: edgeir has no UINT4 dtype",
    "test_cast_UINT4_to_FLOAT16": "UINT4 tensors: edgeir has no UINT4 dtype",
    "test_cast_UINT4_to_UINT8": "UINT4 tensors: edgeir has no UINT4 dtype",
    "test_cast_e8m0_FLOAT8E8M0_to_FLOAT": "FLOAT8E8M0 tensors: edgeir has no FLOAT8E8M0 dtype",
    "test_cast_e8m0_FLOAT8E8M0_to_FLOAT16": "FLOAT8E8M0 tensors: edgeir has no FLOAT8E8M0 dtype",
    "test_castlike_BFLOAT16_to_FLOAT_expanded": "BFLOAT16 tensors: edgeir has no BFLOAT16 dtype",
    "test_castlike_FLOAT16_to_FLOAT4E2M1_expanded":
        "FLOAT4E2M1 tensors: edgeir has no FLOAT4E2M1 dtype",
    "test_castlike_FLOAT16_to_FLOAT8E4M3FNUZ_expanded":
        "FLOAT8E4M3FNUZ tensors: edgeir has no FLOAT8E4M3FNUZ dtype",
    "test_castlike_FLOAT16_to_FLOAT8E4M3FN_expanded":
        "FLOAT8E4M3FN tensors: edgeir has no FLOAT8E4M3FN dtype",
    "test_castlike_FLOAT16_to_FLOAT8E5M2FNUZ_expanded":
        "FLOAT8E5M2FNUZ tensors: edgeir has no FLOAT8E5M2FNUZ dtype",
    "test_castlike_FLOAT16_to_FLOAT8E5M2_expanded":
        "FLOAT8E5M2 tensors: edgeir has no FLOAT8E5M2 dtype",
    "test_castlike_FLOAT16_to_INT2_expanded": "INT2 tensors: edgeir has no INT2 dtype",
    "test_castlike_FLOAT16_to_INT4_expanded": "INT4 tensors: edgeir has no INT4 dtype",
    "test_castlike_FLOAT16_to_UINT2_expanded": "UINT2 tensors: edgeir has no UINT2 dtype",
    "test_castlike_FLOAT16_to_UINT4_expanded": "UINT4 tensors: edgeir has no UINT4 dtype",
    "test_castlike_FLOAT4E2M1_to_FLOAT16_expanded":
        "FLOAT4E2M1 tensors: edgeir has no FLOAT4E2M1 dtype",
    "test_castlike_FLOAT4E2M1_to_FLOAT_expanded":
        "FLOAT4E2M1 tensors: edgeir has no FLOAT4E2M1 dtype",
    "test_castlike_FLOAT8E4M3FNUZ_to_FLOAT16_expanded":
        "FLOAT8E4M3FNUZ tensors: edgeir has no FLOAT8E4M3FNUZ dtype",
    "test_castlike_FLOAT8E4M3FNUZ_to_FLOAT_expanded":
        "FLOAT8E4M3FNUZ tensors: edgeir has no FLOAT8E4M3FNUZ dtype",
    "test_castlike_FLOAT8E4M3FN_to_FLOAT16_expanded":
        "FLOAT8E4M3FN tensors: edgeir has no FLOAT8E4M3FN dtype",
    "test_castlike_FLOAT8E4M3FN_to_FLOAT_expanded":
        "FLOAT8E4M3FN tensors: edgeir has no FLOAT8E4M3FN dtype",
    "test_castlike_FLOAT8E5M2FNUZ_to_FLOAT16_expanded":
        "FLOAT8E5M2FNUZ tensors: edgeir has no FLOAT8E5M2FNUZ dtype",
    "test_castlike_FLOAT8E5M2FNUZ_to_FLOAT_expanded":
        "FLOAT8E5M2FNUZ tensors: edgeir has no FLOAT8E5M2FNUZ dtype",
    "test_castlike_FLOAT8E5M2_to_FLOAT16_expanded":
        "FLOAT8E5M2 tensors: edgeir has no FLOAT8E5M2 dtype",
    "test_castlike_FLOAT8E5M2_to_FLOAT_expanded":
        "FLOAT8E5M2 tensors: edgeir has no FLOAT8E5M2 dtype",
    "test_castlike_FLOAT_to_BFLOAT16_expanded": "BFLOAT16 tensors: edgeir has no BFLOAT16 dtype",
    "test_castlike_FLOAT_to_FLOAT4E2M1_expanded":
        "FLOAT4E2M1 tensors: edgeir has no FLOAT4E2M1 dtype",
    "test_castlike_FLOAT_to_FLOAT8E4M3FNUZ_expanded":
        "FLOAT8E4M3FNUZ tensors: edgeir has no FLOAT8E4M3FNUZ dtype",
    "test_castlike_FLOAT_to_FLOAT8E4M3FN_expanded":
        "FLOAT8E4M3FN tensors: edgeir has no FLOAT8E4M3FN dtype",
    "test_castlike_FLOAT_to_FLOAT8E5M2FNUZ_expanded":
        "FLOAT8E5M2FNUZ tensors: edgeir has no FLOAT8E5M2FNUZ dtype",
    "test_castlike_FLOAT_to_FLOAT8E5M2_expanded":
        "FLOAT8E5M2 tensors: edgeir has no FLOAT8E5M2 dtype",
    "test_castlike_FLOAT_to_INT2_expanded": "INT2 tensors: edgeir has no INT2 dtype",
    "test_castlike_FLOAT_to_INT4_expanded": "INT4 tensors: edgeir has no INT4 dtype",
    "test_castlike_FLOAT_to_UINT2_expanded": "UINT2 tensors: edgeir has no UINT2 dtype",
    "test_castlike_FLOAT_to_UINT4_expanded": "UINT4 tensors: edgeir has no UINT4 dtype",
    "test_castlike_INT2_to_FLOAT16_expanded": "INT2 tensors: edgeir has no INT2 dtype",
    "test_castlike_INT2_to_FLOAT_expanded": "INT2 tensors: edgeir has no INT2 dtype",
    "test_castlike_INT2_to_INT8_expanded": "INT2 tensors: edgeir has no INT2 dtype",
    "test_castlike_INT4_to_FLOAT16_expanded": "INT4 tensors: edgeir has no INT4 dtype",
    "test_castlike_INT4_to_FLOAT_expanded": "INT4 tensors: edgeir has no INT4 dtype",
    "test_castlike_INT4_to_INT8_expanded": "INT4 tensors: edgeir has no INT4 dtype",
    "test_castlike_UINT2_to_FLOAT16_expanded": "UINT2 tensors: edgeir has no UINT2 dtype",
    "test_castlike_UINT2_to_FLOAT_expanded": "UINT2 tensors: edgeir has no UINT2 dtype",
    "test_castlike_UINT2_to_UINT8_expanded": "UINT2 tensors: edgeir has no UINT2 dtype",
    "test_castlike_UINT4_to_FLOAT16_expanded": "UINT4 tensors: edgeir has no UINT4 dtype",
    "test_castlike_UINT4_to_FLOAT_expanded": "UINT4 tensors: edgeir has no UINT4 dtype",
    "test_castlike_UINT4_to_UINT8_expanded": "UINT4 tensors: edgeir has no UINT4 dtype",
    "test_castlike_no_saturate_FLOAT16_to_FLOAT8E4M3FNUZ_expanded":
        "FLOAT8E4M3FNUZ tensors: edgeir has no FLOAT8E4M3FNUZ dtype",
    "test_castlike_no_saturate_FLOAT16_to_FLOAT8E4M3FN_expanded":
        "FLOAT8E4M3FN tensors: edgeir has no FLOAT8E4M3FN dtype",
    "test_castlike_no_saturate_FLOAT16_to_FLOAT8E5M2FNUZ_expanded":
        "FLOAT8E5M2FNUZ tensors: edgeir has no FLOAT8E5M2FNUZ dtype",
    "test_castlike_no_saturate_FLOAT16_to_FLOAT8E5M2_expanded":
        "FLOAT8E5M2 tensors: edgeir has no FLOAT8E5M2 dtype",
    "test_castlike_no_saturate_FLOAT_to_FLOAT8E4M3FNUZ_expanded":
        "FLOAT8E4M3FNUZ tensors: edgeir has no FLOAT8E4M3FNUZ dtype",
    "test_castlike_no_saturate_FLOAT_to_FLOAT8E4M3FN_expanded":
        "FLOAT8E4M3FN tensors: edgeir has no FLOAT8E4M3FN dtype",
    "test_castlike_no_saturate_FLOAT_to_FLOAT8E5M2FNUZ_expanded":
        "FLOAT8E5M2FNUZ tensors: edgeir has no FLOAT8E5M2FNUZ dtype",
    "test_castlike_no_saturate_FLOAT_to_FLOAT8E5M2_expanded":
        "FLOAT8E5M2 tensors: edgeir has no FLOAT8E5M2 dtype",
    "test_dequantizelinear_e4m3fn": "FLOAT8E4M3FN tensors: edgeir has no FLOAT8E4M3FN dtype",
    "test_dequantizelinear_e4m3fn_float16":
        "FLOAT8E4M3FN tensors: edgeir has no FLOAT8E4M3FN dtype",
    "test_dequantizelinear_e4m3fn_zero_point":
        "FLOAT8E4M3FN tensors: edgeir has no FLOAT8E4M3FN dtype",
    "test_dequantizelinear_e5m2": "FLOAT8E5M2 tensors: edgeir has no FLOAT8E5M2 dtype",
    "test_dequantizelinear_float4e2m1": "FLOAT4E2M1 tensors: edgeir has no FLOAT4E2M1 dtype",
    "test_dequantizelinear_int2": "INT2 tensors: edgeir has no INT2 dtype",
    "test_dequantizelinear_int4": "INT4 tensors: edgeir has no INT4 dtype",
    "test_dequantizelinear_uint16": "UINT16 tensors: edgeir has no UINT16 dtype",
    "test_dequantizelinear_uint2": "UINT2 tensors: edgeir has no UINT2 dtype",
    "test_dequantizelinear_uint4": "UINT4 tensors: edgeir has no UINT4 dtype",
    "test_div_uint16": "UINT16 tensors: edgeir has no UINT16 dtype",
    "test_div_uint32": "UINT32 tensors: edgeir has no UINT32 dtype",
    "test_div_uint64": "UINT64 tensors: edgeir has no UINT64 dtype",
    "test_mul_uint16": "UINT16 tensors: edgeir has no UINT16 dtype",
    "test_mul_uint32": "UINT32 tensors: edgeir has no UINT32 dtype",
    "test_mul_uint64": "UINT64 tensors: edgeir has no UINT64 dtype",
    "test_quantizelinear_e4m3fn": "FLOAT8E4M3FN tensors: edgeir has no FLOAT8E4M3FN dtype",
    "test_quantizelinear_e5m2": "FLOAT8E5M2 tensors: edgeir has no FLOAT8E5M2 dtype",
    "test_quantizelinear_float4e2m1": "FLOAT4E2M1 tensors: edgeir has no FLOAT4E2M1 dtype",
    "test_quantizelinear_int2": "INT2 tensors: edgeir has no INT2 dtype",
    "test_quantizelinear_int4": "INT4 tensors: edgeir has no INT4 dtype",
    "test_quantizelinear_uint16": "UINT16 tensors: edgeir has no UINT16 dtype",
    "test_quantizelinear_uint2": "UINT2 tensors: edgeir has no UINT2 dtype",
    "test_quantizelinear_uint4": "UINT4 tensors: edgeir has no UINT4 dtype",
    "test_sub_uint16": "UINT16 tensors: edgeir has no UINT16 dtype",
    "test_sub_uint32": "UINT32 tensors: edgeir has no UINT32 dtype",
    "test_sub_uint64": "UINT64 tensors: edgeir has no UINT64 dtype",
    # Casts to element types edgeir does not have.
    "test_cast_FLOAT16_to_FLOAT4E2M1":
        "Cast to FLOAT4E2M1: edgeir has no such dtype (Cast is float to float)",
    "test_cast_FLOAT16_to_FLOAT8E4M3FN":
        "Cast to FLOAT8E4M3FN: edgeir has no such dtype (Cast is float to float)",
    "test_cast_FLOAT16_to_FLOAT8E4M3FNUZ":
        "Cast to FLOAT8E4M3FNUZ: edgeir has no such dtype (Cast is float to float)",
    "test_cast_FLOAT16_to_FLOAT8E5M2":
        "Cast to FLOAT8E5M2: edgeir has no such dtype (Cast is float to float)",
    "test_cast_FLOAT16_to_FLOAT8E5M2FNUZ":
        "Cast to FLOAT8E5M2FNUZ: edgeir has no such dtype (Cast is float to float)",
    "test_cast_FLOAT16_to_INT2": "Cast to INT2: edgeir has no such dtype (Cast is float to float)",
    "test_cast_FLOAT16_to_INT4": "Cast to INT4: edgeir has no such dtype (Cast is float to float)",
    "test_cast_FLOAT16_to_UINT2":
        "Cast to UINT2: edgeir has no such dtype (Cast is float to float)",
    "test_cast_FLOAT16_to_UINT4":
        "Cast to UINT4: edgeir has no such dtype (Cast is float to float)",
    "test_cast_FLOAT_to_BFLOAT16":
        "Cast to BFLOAT16: edgeir has no such dtype (Cast is float to float)",
    "test_cast_FLOAT_to_FLOAT4E2M1":
        "Cast to FLOAT4E2M1: edgeir has no such dtype (Cast is float to float)",
    "test_cast_FLOAT_to_FLOAT8E4M3FN":
        "Cast to FLOAT8E4M3FN: edgeir has no such dtype (Cast is float to float)",
    "test_cast_FLOAT_to_FLOAT8E4M3FNUZ":
        "Cast to FLOAT8E4M3FNUZ: edgeir has no such dtype (Cast is float to float)",
    "test_cast_FLOAT_to_FLOAT8E5M2":
        "Cast to FLOAT8E5M2: edgeir has no such dtype (Cast is float to float)",
    "test_cast_FLOAT_to_FLOAT8E5M2FNUZ":
        "Cast to FLOAT8E5M2FNUZ: edgeir has no such dtype (Cast is float to float)",
    "test_cast_FLOAT_to_INT2": "Cast to INT2: edgeir has no such dtype (Cast is float to float)",
    "test_cast_FLOAT_to_INT4": "Cast to INT4: edgeir has no such dtype (Cast is float to float)",
    "test_cast_FLOAT_to_UINT2": "Cast to UINT2: edgeir has no such dtype (Cast is float to float)",
    "test_cast_FLOAT_to_UINT4": "Cast to UINT4: edgeir has no such dtype (Cast is float to float)",
    "test_cast_e8m0_FLOAT16_to_FLOAT8E8M0":
        "Cast to FLOAT8E8M0: edgeir has no such dtype (Cast is float to float)",
    "test_cast_e8m0_FLOAT_to_FLOAT8E8M0":
        "Cast to FLOAT8E8M0: edgeir has no such dtype (Cast is float to float)",
    "test_cast_no_saturate_FLOAT16_to_FLOAT8E4M3FN":
        "Cast to FLOAT8E4M3FN: edgeir has no such dtype (Cast is float to float)",
    "test_cast_no_saturate_FLOAT16_to_FLOAT8E4M3FNUZ":
        "Cast to FLOAT8E4M3FNUZ: edgeir has no such dtype (Cast is float to float)",
    "test_cast_no_saturate_FLOAT16_to_FLOAT8E5M2":
        "Cast to FLOAT8E5M2: edgeir has no such dtype (Cast is float to float)",
    "test_cast_no_saturate_FLOAT16_to_FLOAT8E5M2FNUZ":
        "Cast to FLOAT8E5M2FNUZ: edgeir has no such dtype (Cast is float to float)",
    "test_cast_no_saturate_FLOAT_to_FLOAT8E4M3FN":
        "Cast to FLOAT8E4M3FN: edgeir has no such dtype (Cast is float to float)",
    "test_cast_no_saturate_FLOAT_to_FLOAT8E4M3FNUZ":
        "Cast to FLOAT8E4M3FNUZ: edgeir has no such dtype (Cast is float to float)",
    "test_cast_no_saturate_FLOAT_to_FLOAT8E5M2":
        "Cast to FLOAT8E5M2: edgeir has no such dtype (Cast is float to float)",
    "test_cast_no_saturate_FLOAT_to_FLOAT8E5M2FNUZ":
        "Cast to FLOAT8E5M2FNUZ: edgeir has no such dtype (Cast is float to float)",
    # Non-tensor types.
    "test_identity_opt": "optional input: edgeir has tensors only",
    "test_identity_sequence": "sequence input: edgeir has tensors only",
}


def _op_types(graph: onnx.GraphProto) -> set[str]:
    """Op types of a graph and its subgraphs; ops of other domains count as unknown."""
    found: set[str] = set()
    for node in graph.node:
        found.add(node.op_type if node.domain in ("", "ai.onnx")
                  else f"{node.domain}.{node.op_type}")
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                found |= _op_types(sub)
    return found


def _collect() -> list[Any]:
    with warnings.catch_warnings():  # the generators overflow on purpose in places
        warnings.simplefilter("ignore")
        cases = collect_testcases()
    return sorted((c for c in cases if _op_types(c.model.graph) <= SUPPORTED_OPS),
                  key=lambda c: c.name)


CASES = _collect()


def _array(x: Any) -> np.ndarray:
    return numpy_helper.to_array(x) if isinstance(x, onnx.TensorProto) else np.asarray(x)


def test_case_names_are_unique() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))


def test_unsupported_list_is_current() -> None:
    """Every listed case exists among the included ones (no stale entries)."""
    included = {c.name for c in CASES}
    assert sorted(set(UNSUPPORTED) - included) == []


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_node_case(case: Any) -> None:
    first_inputs = case.data_sets[0][0] if case.data_sets else []
    if case.name in UNSUPPORTED:
        with pytest.raises(EdgeirError) as info:
            EdgeirBackend.prepare(case.model).graph_for(first_inputs)
        assert info.value.kind == "unsupported", info.value.line()
        assert info.value.where, "the error must say where"
        return
    rep = EdgeirBackend.prepare(case.model)
    graph = rep.graph_for(first_inputs)
    if any(n.op_type != "Constant" for n in case.model.graph.node):
        # The interpreter must compute the outputs, not the importer's constant folding.
        assert graph.nodes, "the whole model folded away at import"
    assert case.data_sets, "the case has no data"
    for index, (inputs, expected) in enumerate(case.data_sets):
        actual = rep.run(inputs)
        assert len(actual) == len(expected)
        for name, got, want in zip(rep.output_names, actual, expected):
            want = _array(want)
            what = f"data set {index}, output {name!r}"
            assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, expected {want.dtype}"
            assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
            np.testing.assert_allclose(got, want, rtol=case.rtol, atol=case.atol, err_msg=what)
