"""Training-time augmentation on cached uint8 256px arrays (tf.data, stateless => reproducible).

Mild on purpose: heavy JPEG/rescaling washes out the traces GAN detection needs. Random JPEG
re-compression and down-and-up scaling stop image size and JPEG quality from giving the label away.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import tensorflow as tf


@dataclass(frozen=True)
class AugmentConfig:
    p_scale: float = 0.3        # random down-and-up scaling
    min_scale: float = 0.75
    p_jpeg: float = 0.3         # random JPEG re-compression
    min_quality: int = 80
    max_quality: int = 100
    p_flip: float = 0.5
    p_color: float = 0.3        # brightness/contrast/saturation jitter
    brightness: float = 0.04
    contrast: float = 0.1
    saturation: float = 0.1
    p_blur: float = 0.1         # 3x3 Gaussian blur, sigma 0.3-0.8
    max_sigma: float = 0.8
    p_zoom: float = 0.8         # random re-framing: crop side / image side in [min_zoom, max_zoom]
    min_zoom: float = 0.85      # (< 1: zoom in at a random place; > 1: zoom out, the border reflected):
    max_zoom: float = 1.15      # the face squares' box jitter between a face alone and in a photo
    p_fill: float = 0.7         # face squares reaching outside their image: fill that part with another
                                # training image, a noisy flat colour or a smooth colour field (train.fill_outside)

    def to_dict(self) -> dict:
        return asdict(self)


def _blur(img: tf.Tensor, sigma: tf.Tensor) -> tf.Tensor:
    x = tf.constant([-1.0, 0.0, 1.0])
    k1 = tf.exp(-(x ** 2) / (2.0 * sigma ** 2))
    k1 = k1 / tf.reduce_sum(k1)
    k2 = tf.tensordot(k1, k1, axes=0)
    kernel = tf.tile(k2[:, :, None, None], [1, 1, 3, 1])
    padded = tf.pad(img[None], [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
    return tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID")[0]


def make_augment(cfg: AugmentConfig, scale: float, size=(256, 256)):
    """(uint8 HxWx3, seed int64[2]) -> float32 HxWx3 in [0, 1]; same math as scale_pixels at the end."""
    w, h = size
    scale = tf.constant(scale, tf.float32)

    def augment(img: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        seed = tf.cast(seed, tf.int64)
        sub = lambda k: tf.stack([seed[0], seed[1] * 16 + k])
        u = tf.random.stateless_uniform([10], seed=sub(0))

        def rescale(x):
            f = cfg.min_scale + (1.0 - cfg.min_scale) * u[1]
            nh = tf.cast(tf.round(f * h), tf.int32)
            nw = tf.cast(tf.round(f * w), tf.int32)
            small = tf.image.resize(x, [nh, nw], method="area", antialias=True)
            big = tf.image.resize(small, [h, w], method="bilinear")
            return tf.cast(tf.clip_by_value(tf.round(big), 0.0, 255.0), tf.uint8)

        def reframe(x):
            # the face sets differ in framing (face share 0.42-0.96 of the crop); the face path cuts
            # one margin for all, so the classifier must not read the label from the framing
            z = cfg.min_zoom + (cfg.max_zoom - cfg.min_zoom) * u[8]
            j = tf.random.stateless_uniform([2], seed=sub(4))
            xf = tf.cast(x, tf.float32)

            def zoom_in():
                side = tf.cast(tf.round(z * h), tf.int32)
                oy = tf.cast(tf.round(tf.cast(h - side, tf.float32) * j[0]), tf.int32)
                ox = tf.cast(tf.round(tf.cast(w - side, tf.float32) * j[1]), tf.int32)
                crop = tf.image.crop_to_bounding_box(xf, oy, ox, side, side)
                return tf.image.resize(crop, [h, w], method="bilinear")

            def zoom_out():
                side = tf.cast(tf.round(h / z), tf.int32)
                small = tf.image.resize(xf, [side, side], method="area", antialias=True)
                pad = h - side
                top = tf.cast(tf.round(tf.cast(pad, tf.float32) * j[0]), tf.int32)
                left = tf.cast(tf.round(tf.cast(pad, tf.float32) * j[1]), tf.int32)
                return tf.pad(small, [[top, pad - top], [left, pad - left], [0, 0]], mode="REFLECT")

            out = tf.cond(z <= 1.0, zoom_in, zoom_out)
            return tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)

        img = tf.cond(u[9] < cfg.p_zoom, lambda: reframe(img), lambda: img)
        img.set_shape([h, w, 3])
        img = tf.cond(u[0] < cfg.p_scale, lambda: rescale(img), lambda: img)

        def jpeg(x):
            q = cfg.min_quality + tf.cast(tf.floor(u[3] * (cfg.max_quality - cfg.min_quality + 1)), tf.int32)
            q = tf.minimum(q, cfg.max_quality)
            return tf.image.adjust_jpeg_quality(x, q)

        img = tf.cond(u[2] < cfg.p_jpeg, lambda: jpeg(img), lambda: img)
        img.set_shape([h, w, 3])
        x = tf.cast(img, tf.float32) * scale
        x = tf.cond(u[4] < cfg.p_flip, lambda: tf.image.flip_left_right(x), lambda: x)

        def color(x):
            x = tf.image.stateless_random_brightness(x, cfg.brightness, seed=sub(1))
            x = tf.image.stateless_random_contrast(x, 1 - cfg.contrast, 1 + cfg.contrast, seed=sub(2))
            x = tf.image.stateless_random_saturation(x, 1 - cfg.saturation, 1 + cfg.saturation, seed=sub(3))
            return tf.clip_by_value(x, 0.0, 1.0)

        x = tf.cond(u[5] < cfg.p_color, lambda: color(x), lambda: x)
        x = tf.cond(u[6] < cfg.p_blur, lambda: _blur(x, 0.3 + (cfg.max_sigma - 0.3) * u[7]), lambda: x)
        x.set_shape([h, w, 3])
        return tf.clip_by_value(x, 0.0, 1.0)

    return augment


def make_self_blend(p: float, size=(256, 256)):
    """Self-blended images (after Shiohara & Yamasaki, CVPR 2022), without landmarks: a REAL face is
    blended with a slightly shifted, rescaled, recoloured and blurred/sharpened copy of itself through a
    soft ellipse over the face centre (the face sets are centred crops), and labelled FAKE. It teaches the
    blending boundary and colour mismatch that face swaps leave, not any one generator's fingerprint.
    (float32 HxWx3 in [0, 1], label float32[1], seed int64[2]) -> (image, label)."""
    w, h = size

    def blend(x, seed):
        sub = lambda k: tf.stack([seed[0], seed[1] * 16 + 8 + k])
        u = tf.random.stateless_uniform([12], seed=sub(0))
        # the source: same face, slightly moved / rescaled / recoloured / blurred or sharpened
        s = 0.94 + 0.12 * u[0]
        nh = tf.cast(tf.round(s * h), tf.int32); nw = tf.cast(tf.round(s * w), tf.int32)
        src = tf.image.resize(x, [nh, nw], method="bilinear")
        src = tf.image.resize_with_crop_or_pad(src, h, w)
        dx = tf.cast(tf.round((u[1] - 0.5) * 8), tf.int32); dy = tf.cast(tf.round((u[2] - 0.5) * 8), tf.int32)
        src = tf.roll(src, shift=[dy, dx], axis=[0, 1])
        src = src * (0.9 + 0.2 * u[3]) + (u[4] - 0.5) * 0.08
        src = tf.image.stateless_random_hue(src, 0.03, seed=sub(1))
        src = tf.image.stateless_random_saturation(src, 0.85, 1.15, seed=sub(2))
        src = tf.cond(u[5] < 0.5, lambda: _blur(src, 0.5 + 0.7 * u[6]),
                      lambda: src + (src - _blur(src, 1.0)) * (0.5 + u[6]))
        src = tf.clip_by_value(src, 0.0, 1.0)
        # soft ellipse over the face centre
        yy, xx = tf.meshgrid(tf.linspace(0.0, 1.0, h), tf.linspace(0.0, 1.0, w), indexing="ij")
        cx = 0.5 + (u[7] - 0.5) * 0.06; cy = 0.52 + (u[8] - 0.5) * 0.08
        rx = 0.22 + 0.12 * u[9]; ry = 0.28 + 0.14 * u[10]
        d = tf.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
        soft = 0.05 + 0.25 * u[11]
        mask = tf.clip_by_value((1.0 + soft - d) / (2.0 * soft), 0.0, 1.0)
        ratio = 0.6 + 0.4 * tf.random.stateless_uniform([], seed=sub(3))
        mask = (mask * ratio)[:, :, None]
        return tf.clip_by_value(src * mask + x * (1.0 - mask), 0.0, 1.0)

    def apply(x, y, seed):
        seed = tf.cast(seed, tf.int64)
        u = tf.random.stateless_uniform([], seed=tf.stack([seed[0], seed[1] * 16 + 15]))
        do = tf.logical_and(y[0] < 0.5, u < p)
        x2 = tf.cond(do, lambda: blend(x, seed), lambda: x)
        y2 = tf.where(do, tf.ones_like(y), y)
        x2.set_shape([h, w, 3])
        return x2, y2

    return apply
