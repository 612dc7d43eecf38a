"""Small ONNX models that stand in for insightface's ``buffalo_l`` in tests.

The real ``buffalo_l`` weights (an SCRFD detector ``det_10g.onnx`` and an
ArcFace recogniser ``w600k_r50.onnx``) are downloaded from the internet,
which the test machines cannot reach. :func:`write_insightface_models` writes
two tiny models with the *same input and output signatures*, so that
insightface's own loader (``insightface.model_zoo.get_model``) takes them for
an ``SCRFD`` detector and an ``ArcFaceONNX`` recogniser and the portal's
insightface backend runs its real code path end to end.

They are not face models:

* **Detector** (``det_10g.onnx``): input ``input.1`` of shape
  ``[1, 3, ?, ?]`` (normalised RGB, as SCRFD feeds it); nine outputs, as the
  real model: scores, box distances and keypoint offsets for strides 8, 16
  and 32 with two anchors per location, each of shape ``[N, 1]``,
  ``[N, 4]`` and ``[N, 10]``. It computes a soft *skin map* with a 1x1
  convolution, sigmoids and a product over channels: a loosened form of the
  classic YCbCr skin rule (131 <= Cr <= 180, 80 <= Cb <= 130, where the
  classic one says 133-173 and 77-127) on pixels that are not dark. For
  every anchor it compares the mean skin in a square window centred on the
  anchor (the anchor's box) with the mean in a window twice as wide (a
  centre-surround blob detector; the windows ignore what lies outside the
  image) and turns the difference into a score with a sigmoid, less a prior
  against small anchors. A skin-coloured blob about as big as one of the six
  anchor sizes (24 to 288 pixels at 640x640) therefore scores high where the
  window fits it and its surroundings are not skin, while flat regions score
  low whatever their colour. Each anchor's box is its window, and the five
  keypoints sit at fixed places inside the box (eyes, nose, mouth corners of
  an upright face). The scores, and so which boxes come out, depend on the
  image; an image without skin colours (a uniform grey one, a greyscale
  photo) gives no detection. On the labelled test photos the best-scoring
  box lies on the face in 11 of 18 portraits; boxes can reach past the
  image's border.
* **Recogniser** (``w600k_r50.onnx``): input ``input.1`` of shape
  ``[None, 3, 112, 112]``, output ``[None, 512]``: 8x8 average pooling of the
  aligned crop, flattened to 588 values and multiplied by a fixed random
  matrix (seed ``RECOGNISER_SEED``). Deterministic: the same crop gives the
  same embedding and different crops different ones.

Both files together are about 1.3 MB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = [
    "ANCHOR_SIZES",
    "DETECTOR_FILE",
    "RECOGNISER_FILE",
    "build_detector",
    "build_recogniser",
    "write_insightface_models",
]

DETECTOR_FILE = "det_10g.onnx"
RECOGNISER_FILE = "w600k_r50.onnx"
OPSET = 13
IR_VERSION = 8
RECOGNISER_SEED = 20240611

STRIDES = (8, 16, 32)
#: Box side in pixels of the detector's input for each stride's two anchors.
ANCHOR_SIZES = {8: (24, 40), 16: (64, 96), 32: (160, 288)}

# Skin map: the product of sigmoid(SKIN_GAIN * (feature - threshold)) over
# linear features of the input, which is (pixel - 127.5) / 128 in RGB order.
# The features bound the chroma of skin in YCbCr (the classic rule's
# 133 <= Cr <= 173 and 77 <= Cb <= 127, widened a little so that the pale
# faces of the test photos count) and ask for a pixel that is not dark.
_CR = (0.5, -0.4187, -0.0813)  # (Cr - 128) / 128
_CB = (-0.1687, -0.3313, 0.5)  # (Cb - 128) / 128
_Y = (0.299, 0.587, 0.114)  # (Y - 127.5) / 128
SKIN_GAIN = 25.0  # each sigmoid goes from 0.27 to 0.73 over ~10 pixel levels
SKIN_FEATURES = (
    # (weights on R, G, B), threshold: each asks for feature > threshold
    (_CR, (131 - 128) / 128),  # Cr >= 131
    (tuple(-w for w in _CR), -(180 - 128) / 128),  # Cr <= 180
    (_CB, (80 - 128) / 128),  # Cb >= 80
    (tuple(-w for w in _CB), -(130 - 128) / 128),  # Cb <= 130
    (_Y, (40 - 127.5) / 128),  # Y >= 40
)
# Score: sigmoid(SCORE_GAIN * (centre mean - surround mean) + bias), where
# the bias is SCORE_BIAS (0.5 at a contrast of 0.25) lowered by SIZE_PRIOR
# per halving of the anchor size below SIZE_PRIOR_FROM pixels: small
# skin-coloured blobs (hands, arms) are far more common than small faces.
SCORE_GAIN = 16.0
SCORE_BIAS = -4.0
SIZE_PRIOR = 3.0
SIZE_PRIOR_FROM = 160

# Keypoints relative to the box centre, in box sides (x, y): eyes, nose tip,
# mouth corners of an upright frontal face, left and right as in the image.
KEYPOINTS = (
    (-0.19, -0.12),
    (0.19, -0.12),
    (0.0, 0.06),
    (-0.15, 0.24),
    (0.15, 0.24),
)


def _const(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array), name=name)


def build_detector() -> onnx.ModelProto:
    """An SCRFD-shaped detector graph (see the module docstring)."""
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []

    weights = np.array([w for w, _ in SKIN_FEATURES], dtype=np.float32) * SKIN_GAIN
    bias = np.array([-t for _, t in SKIN_FEATURES], dtype=np.float32) * SKIN_GAIN
    inits += [
        _const("skin_w", weights.reshape(len(SKIN_FEATURES), 3, 1, 1)),
        _const("skin_b", bias),
        _const("score_gain", np.array(SCORE_GAIN, dtype=np.float32)),
        _const("zero", np.array(0.0, dtype=np.float32)),
        _const("one", np.array(1.0, dtype=np.float32)),
        _const("shape_1", np.array([-1, 1], dtype=np.int64)),
        _const("shape_4", np.array([-1, 4], dtype=np.int64)),
        _const("shape_10", np.array([-1, 10], dtype=np.int64)),
    ]
    nodes += [
        helper.make_node("Conv", ["input.1", "skin_w", "skin_b"], ["skin_logits"],
                         name="skin_conv"),
        helper.make_node("Sigmoid", ["skin_logits"], ["skin_parts"], name="skin_sigmoid"),
        helper.make_node("ReduceProd", ["skin_parts"], ["skin"], axes=[1], keepdims=1,
                         name="skin_product"),
    ]

    score_outputs, box_outputs, kps_outputs = [], [], []
    for stride in STRIDES:
        per_anchor = []
        for a, size in enumerate(ANCHOR_SIZES[stride]):
            tag = f"s{stride}a{a}"
            half = size // 2
            # Window of `size` centred on each anchor centre (x * stride): the
            # output at index i covers [i*stride - half, i*stride + half).
            nodes.append(helper.make_node(
                "AveragePool", ["skin"], [f"centre_{tag}"], name=f"centre_pool_{tag}",
                kernel_shape=[size, size], strides=[stride, stride],
                pads=[half, half, half - stride, half - stride], count_include_pad=0,
            ))
            nodes.append(helper.make_node(
                "AveragePool", ["skin"], [f"surround_{tag}"], name=f"surround_pool_{tag}",
                kernel_shape=[2 * size, 2 * size], strides=[stride, stride],
                pads=[size, size, size - stride, size - stride], count_include_pad=0,
            ))
            # logit = gain * (centre - surround) + bias(size)
            nodes += [
                helper.make_node("Sub", [f"centre_{tag}", f"surround_{tag}"],
                                 [f"contrast_{tag}"], name=f"contrast_{tag}"),
                helper.make_node("Mul", [f"contrast_{tag}", "score_gain"],
                                 [f"scaled_{tag}"], name=f"scale_{tag}"),
                helper.make_node("Add", [f"scaled_{tag}", f"bias_{tag}"],
                                 [f"logit_{tag}"], name=f"logit_{tag}"),
            ]
            bias = SCORE_BIAS - SIZE_PRIOR * max(0.0, np.log2(SIZE_PRIOR_FROM / size))
            inits.append(_const(f"bias_{tag}", np.array(bias, dtype=np.float32)))
            per_anchor.append(f"logit_{tag}")
        s = f"s{stride}"
        # (1, 2, h, w) -> (1, h, w, 2) -> (h*w*2, 1): location-major,
        # anchor-minor, the order of SCRFD's anchor centres.
        nodes += [
            helper.make_node("Concat", per_anchor, [f"logits_{s}"], axis=1, name=f"cat_{s}"),
            helper.make_node("Sigmoid", [f"logits_{s}"], [f"prob_{s}"], name=f"prob_{s}"),
            helper.make_node("Transpose", [f"prob_{s}"], [f"prob_t_{s}"], perm=[0, 2, 3, 1],
                             name=f"prob_t_{s}"),
            helper.make_node("Reshape", [f"prob_t_{s}", "shape_1"], [f"score_{stride}"],
                             name=f"score_{s}"),
            # Ones shaped like the anchors: (1, 2, 1, h, w).
            helper.make_node("Mul", [f"logits_{s}", "zero"], [f"zeros_{s}"], name=f"zeros_{s}"),
            helper.make_node("Add", [f"zeros_{s}", "one"], [f"ones_{s}"], name=f"ones_{s}"),
            helper.make_node("Unsqueeze", [f"ones_{s}", "axis_2"], [f"ones5_{s}"],
                             name=f"ones5_{s}"),
        ]
        # Box distances (left, top, right, bottom) and keypoint offsets, in
        # units of the stride, per anchor: shape (1, 2, k, 1, 1).
        distances = np.array(
            [[size / 2 / stride] * 4 for size in ANCHOR_SIZES[stride]], dtype=np.float32
        )
        offsets = np.array(
            [[v * size / stride for point in KEYPOINTS for v in point]
             for size in ANCHOR_SIZES[stride]],
            dtype=np.float32,
        )
        inits += [
            _const(f"dist_{s}", distances.reshape(1, 2, 4, 1, 1)),
            _const(f"kps_{s}", offsets.reshape(1, 2, 10, 1, 1)),
        ]
        for kind, width, out_list in (("bbox", 4, box_outputs), ("kps", 10, kps_outputs)):
            const = f"dist_{s}" if kind == "bbox" else f"kps_{s}"
            nodes += [
                helper.make_node("Mul", [f"ones5_{s}", const], [f"{kind}_map_{s}"],
                                 name=f"{kind}_map_{s}"),
                # (1, 2, k, h, w) -> (1, h, w, 2, k) -> (h*w*2, k)
                helper.make_node("Transpose", [f"{kind}_map_{s}"], [f"{kind}_t_{s}"],
                                 perm=[0, 3, 4, 1, 2], name=f"{kind}_t_{s}"),
                helper.make_node("Reshape", [f"{kind}_t_{s}", f"shape_{width}"],
                                 [f"{kind}_{stride}"], name=f"{kind}_{s}"),
            ]
            out_list.append(
                helper.make_tensor_value_info(f"{kind}_{stride}", TensorProto.FLOAT,
                                              [f"n{stride}", width])
            )
        score_outputs.append(
            helper.make_tensor_value_info(f"score_{stride}", TensorProto.FLOAT, [f"n{stride}", 1])
        )
    inits.append(_const("axis_2", np.array([2], dtype=np.int64)))

    graph = helper.make_graph(
        nodes,
        "fake_scrfd",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "?", "?"])],
        # SCRFD's order: all scores, then all boxes, then all keypoints.
        score_outputs + box_outputs + kps_outputs,
        initializer=inits,
    )
    return _model(graph)


def build_recogniser() -> onnx.ModelProto:
    """An ArcFace-shaped recogniser: 112x112 crop in, 512 values out."""
    rng = np.random.default_rng(RECOGNISER_SEED)
    features = 3 * 14 * 14
    projection = (rng.standard_normal((features, 512)) / np.sqrt(features)).astype(np.float32)
    # insightface treats a graph whose first nodes are named "Sub..." and
    # "Mul..." as an MXNet export with built-in normalisation: avoid both.
    nodes = [
        helper.make_node("AveragePool", ["input.1"], ["pooled"], kernel_shape=[8, 8],
                         strides=[8, 8], name="pool"),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1, name="flatten"),
        helper.make_node("MatMul", ["flat", "projection"], ["683"], name="project"),
    ]
    graph = helper.make_graph(
        nodes,
        "fake_arcface",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["None", 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["None", 512])],
        initializer=[_const("projection", projection)],
    )
    return _model(graph)


def _model(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="face-rights-portal tests",
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def write_insightface_models(folder: Path) -> Path:
    """Write ``det_10g.onnx`` and ``w600k_r50.onnx`` into ``folder``; return it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(build_detector(), str(folder / DETECTOR_FILE))
    onnx.save(build_recogniser(), str(folder / RECOGNISER_FILE))
    return folder
