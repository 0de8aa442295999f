"""Procedural face renderer and camera model of the synthetic benchmark (numpy + OpenCV only).

A face lives in *face coordinates* ``(u, v)``: origin at the face centre, ``v`` pointing down,
one unit = half the face height. A head is first drawn once per identity on a canonical canvas
(hair, ears, face, brows, nose, neck), premultiplied RGBA, anti-aliased. Each frame copies it,
draws the expression-dependent parts (eyes, mouth, glasses), multiplies in the identity's skin
texture and shading, warps the head into the frame with the frame's pose (a similarity
transform), composites it over the background and applies the lighting gradient. The same
transform maps the 68 landmarks (iBUG order: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47,
mouth 48-67) into the frame, so landmarks and pixels always agree.

The camera model (``camera``) turns a float frame into what a cheap camera would store: optical
blur, sensor noise, 8-bit quantisation and JPEG compression.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

N_LANDMARKS = 68
JAW, BROWS, NOSE, EYES, MOUTH = (
    slice(0, 17),
    slice(17, 27),
    slice(27, 36),
    slice(36, 48),
    slice(48, 68),
)
_SHIFT = 4  # fixed-point bits for sub-pixel polygon drawing
_U_RANGE = (-1.7, 1.7)  # canonical canvas extent in face coordinates
_V_RANGE = (-1.7, 2.7)
_IRIS = ((40, 70, 110), (130, 110, 60), (70, 120, 60), (110, 110, 110), (25, 40, 60))
_HAIR = ((20, 20, 25), (30, 50, 80), (70, 130, 180), (40, 70, 150), (150, 150, 155))


@dataclass(frozen=True)
class Identity:
    """Everything that makes one rendered person look like themself."""

    aspect: float  # face half-width / half-height
    jaw: float  # narrowing of the lower face
    face_scale: float  # face half-height / frame size
    skin: tuple  # BGR
    lip: tuple
    eye_x: float
    eye_y: float
    eye_w: float
    eye_h: float
    iris: tuple
    iris_ratio: float
    brow_y: float
    brow_thick: float
    brow_arch: float
    nose_len: float
    nose_w: float
    mouth_y: float
    mouth_w: float
    lip_thick: float
    hair_style: int  # 0 bald, 1 short, 2 long, 3 medium
    hair: tuple
    hairline: float
    shirt: tuple
    glasses: int  # 0 none, 1 round, 2 rectangular
    glasses_color: tuple
    texture_seed: int


@dataclass(frozen=True)
class FrameParams:
    """Pose, expression and lighting of one frame."""

    dx: float = 0.0  # shift, fraction of the frame
    dy: float = 0.0
    angle: float = 0.0  # in-plane rotation, degrees
    scale: float = 1.0
    mouth_open: float = 0.0  # 0 closed .. 1 wide open
    blink: float = 0.0  # 0 open .. 1 closed
    light_angle: float = 0.0  # direction of the brightness gradient, radians
    light_strength: float = 0.2  # relative brightness change across the frame
    gain: float = 1.0


def _color(rng, base, jitter):
    return tuple(float(np.clip(c + rng.uniform(-jitter, jitter), 0, 255)) for c in base)


def sample_identity(rng: np.random.Generator) -> Identity:
    tone = rng.uniform(0, 1)
    skin = np.array([185, 200, 235]) * (1 - tone) + np.array([55, 80, 120]) * tone
    skin_c = _color(rng, skin, 12)
    lip = _color(rng, np.array(skin_c) * np.array([0.72, 0.68, 0.9]), 8)
    hair = _HAIR[rng.integers(len(_HAIR))]
    return Identity(
        aspect=rng.uniform(0.70, 0.86),
        jaw=rng.uniform(0.05, 0.35),
        face_scale=rng.uniform(0.25, 0.29),
        skin=skin_c,
        lip=lip,
        eye_x=rng.uniform(0.29, 0.37),
        eye_y=rng.uniform(-0.24, -0.14),
        eye_w=rng.uniform(0.11, 0.15),
        eye_h=rng.uniform(0.05, 0.075),
        iris=_color(rng, _IRIS[rng.integers(len(_IRIS))], 15),
        iris_ratio=rng.uniform(0.55, 0.75),
        brow_y=rng.uniform(-0.44, -0.34),
        brow_thick=rng.uniform(0.03, 0.07),
        brow_arch=rng.uniform(0.02, 0.08),
        nose_len=rng.uniform(0.10, 0.22),
        nose_w=rng.uniform(0.10, 0.16),
        mouth_y=rng.uniform(0.44, 0.55),
        mouth_w=rng.uniform(0.18, 0.27),
        lip_thick=rng.uniform(0.035, 0.065),
        hair_style=int(rng.choice(4, p=[0.1, 0.4, 0.25, 0.25])),
        hair=_color(rng, hair, 15),
        hairline=rng.uniform(-0.78, -0.5),
        shirt=_color(rng, rng.uniform(30, 220, size=3), 0),
        glasses=int(rng.choice(3, p=[0.7, 0.15, 0.15])),
        glasses_color=_color(rng, (30, 30, 30) if rng.uniform() < 0.6 else (60, 90, 140), 20),
        texture_seed=int(rng.integers(2**31)),
    )


def sample_frame_sequence(rng: np.random.Generator, n_frames: int) -> list[FrameParams]:
    """A short clip: a base pose that drifts a little, blinks, talking mouth, moving light."""
    base = FrameParams(
        dx=rng.uniform(-0.04, 0.04),
        dy=rng.uniform(-0.03, 0.04),
        angle=rng.uniform(-8, 8),
        scale=rng.uniform(0.9, 1.08),
        light_angle=rng.uniform(0, 2 * np.pi),
        light_strength=rng.uniform(0.05, 0.45),
        gain=rng.uniform(0.8, 1.15),
    )
    frames, current = [], base
    for _ in range(n_frames):
        current = replace(
            current,
            dx=current.dx + rng.normal(0, 0.006),
            dy=current.dy + rng.normal(0, 0.006),
            angle=current.angle + rng.normal(0, 1.5),
            scale=current.scale * (1 + rng.normal(0, 0.015)),
            mouth_open=float(np.clip(rng.uniform(-0.2, 0.7), 0, 1)),
            blink=rng.uniform(0.6, 1.0) if rng.uniform() < 0.15 else rng.uniform(0, 0.15),
            light_angle=current.light_angle + rng.normal(0, 0.1),
            gain=current.gain * (1 + rng.normal(0, 0.02)),
        )
        frames.append(current)
    return frames


def _ellipse(cu, cv, au, av, n=32, t0=0.0, t1=2 * np.pi, angle=0.0):
    t = np.linspace(t0, t1, n)
    pts = np.stack([au * np.cos(t), av * np.sin(t)], axis=1)
    if angle:
        c, s = np.cos(angle), np.sin(angle)
        pts = pts @ np.array([[c, s], [-s, c]])
    return pts + (cu, cv)


def face_outline(ident: Identity, n=64) -> np.ndarray:
    """Closed face contour in face coordinates: an ellipse whose lower half narrows to the jaw."""
    pts = _ellipse(0, 0, ident.aspect, 1.0, n, 0, 2 * np.pi, 0)[:-1]
    lower = np.clip(pts[:, 1], 0, None)
    pts[:, 0] *= 1 - ident.jaw * lower**2
    return pts


def landmarks_uv(ident: Identity, fp: FrameParams) -> np.ndarray:
    """The 68 landmarks of a face with the frame's expression, in face coordinates."""
    t = np.linspace(np.pi + 0.2, -0.2, 17)
    jaw = np.stack([ident.aspect * np.cos(t), np.sin(t)], axis=1)
    jaw[:, 0] *= 1 - ident.jaw * np.clip(jaw[:, 1], 0, None) ** 2
    bu = np.linspace(-0.62, -0.12, 5)
    brow_l = np.stack([bu, ident.brow_y - ident.brow_arch * np.sin((bu + 0.62) / 0.5 * np.pi)], 1)
    brow_r = brow_l[::-1] * (-1, 1)
    nose_v = np.linspace(ident.eye_y + 0.05, ident.eye_y + 0.22 + ident.nose_len, 4)
    bridge = np.stack([np.zeros(4), nose_v], 1)
    nu = np.linspace(-ident.nose_w, ident.nose_w, 5)
    nostrils = np.stack([nu, nose_v[-1] + 0.05 - 0.03 * (1 - np.abs(nu) / ident.nose_w)], 1)
    eyes = []
    eh = ident.eye_h * (1 - 0.9 * fp.blink)
    for side in (-1, 1):
        cx, w = side * ident.eye_x, ident.eye_w
        eye = [(-w, 0), (-w / 3, -eh), (w / 3, -eh), (w, 0), (w / 3, eh * 0.8), (-w / 3, eh * 0.8)]
        eye = np.array(eye)
        eyes.append(eye + (cx, ident.eye_y))
    mw, my, lt = ident.mouth_w, ident.mouth_y, ident.lip_thick
    gap = 0.16 * fp.mouth_open
    a = np.linspace(np.pi, 0, 7)
    outer_top = np.stack([-mw * np.cos(a), my - lt - gap / 2 - 0.015 * np.sin(a) ** 2], 1)
    outer_bot = np.stack([mw * np.cos(a[1:-1]), my + lt + gap / 2 + 0.01 * np.sin(a[1:-1])], 1)
    iu = np.array([-0.75, -0.25, 0.25, 0.75]) * mw
    inner_top = np.stack([np.r_[-mw * 0.85, iu[1:3], mw * 0.85], my - gap / 2 + np.zeros(4)], 1)
    inner_bot = np.stack([np.r_[mw * 0.85, iu[2:0:-1], -mw * 0.85], my + gap / 2 + np.zeros(4)], 1)
    inner_top[[1, 2], 1] -= 0.005
    return np.concatenate(
        [jaw, brow_l, brow_r, bridge, nostrils, *eyes, outer_top, outer_bot, inner_top, inner_bot]
    ).astype(np.float64)


class HeadModel:
    """An identity prepared for rendering at one frame size (canvas, texture, background)."""

    def __init__(self, ident: Identity, size: int, background: np.ndarray):
        self.ident, self.size, self.background = ident, size, background
        self.ppu = float(np.ceil(ident.face_scale * size * 1.15))  # canvas pixels per face unit
        self.canvas_shape = (
            int((_V_RANGE[1] - _V_RANGE[0]) * self.ppu),
            int((_U_RANGE[1] - _U_RANGE[0]) * self.ppu),
        )
        self.base = self._draw_base()
        self.texture = self._texture()

    # canonical canvas helpers -------------------------------------------------------------
    def to_canvas(self, uv):
        return (np.asarray(uv) - (_U_RANGE[0], _V_RANGE[0])) * self.ppu

    def _fill(self, img, uv, color, alpha=255):
        pts = np.round(self.to_canvas(uv) * (1 << _SHIFT)).astype(np.int32)
        cv2.fillPoly(img, [pts], (*color, alpha), cv2.LINE_AA, _SHIFT)

    def _line(self, img, uv, color, thick, closed=False):
        pts = np.round(self.to_canvas(uv) * (1 << _SHIFT)).astype(np.int32)
        t = max(1, int(round(thick * self.ppu)))
        cv2.polylines(img, [pts], closed, (*color, 255), t, cv2.LINE_AA, _SHIFT)

    def _draw_base(self) -> np.ndarray:
        ident = self.ident
        img = np.zeros((*self.canvas_shape, 4), np.uint8)
        skin, a = np.array(ident.skin), ident.aspect
        if ident.hair_style in (2, 3):  # hair behind the head
            bottom = 1.4 if ident.hair_style == 2 else 0.55
            back = np.concatenate(
                [_ellipse(0, -0.1, a * 1.25, 1.05, 24, np.pi, 2 * np.pi), [[a * 1.3, bottom]]]
            )
            self._fill(img, np.concatenate([back, [[-a * 1.3, bottom]]]), ident.hair)
        shirt = [(-1.8, 1.75), (-1.1, 1.35), (1.1, 1.35), (1.8, 1.75), (1.8, 2.8), (-1.8, 2.8)]
        self._fill(img, np.array(shirt), ident.shirt)
        neck = [(-0.42 * a, 0.5), (0.42 * a, 0.5), (0.5 * a, 1.5), (-0.5 * a, 1.5)]
        self._fill(img, np.array(neck), tuple(skin * 0.82))
        for side in (-1, 1):
            self._fill(img, _ellipse(side * a * 0.97, -0.02, 0.11, 0.2, 20), tuple(skin * 0.9))
        self._fill(img, face_outline(ident), ident.skin)
        if ident.hair_style > 0:  # hair cap over the forehead
            top = _ellipse(0, 0, a * 1.07, 1.08, 28, np.pi + 0.25, 2 * np.pi - 0.25)
            hl = np.linspace(a * 1.0, -a * 1.0, 15)
            line = np.stack([hl, ident.hairline + 0.35 * (np.abs(hl) / a) ** 2], 1)
            self._fill(img, np.concatenate([top, line]), ident.hair)
        lm = landmarks_uv(ident, FrameParams())
        brow_color = tuple(np.array(ident.hair) * 0.7 + skin * 0.1)
        for brow in (lm[17:22], lm[22:27]):
            self._line(img, brow, brow_color, ident.brow_thick)
        nose_shadow = tuple(skin * 0.72)
        self._line(img, lm[[27, 28, 29, 30]] + (0.04, 0), nose_shadow, 0.018)
        self._line(img, lm[31:36], nose_shadow, 0.02)
        for side in (-1, 1):
            self._fill(
                img,
                _ellipse(side * ident.nose_w * 0.5, lm[33, 1], 0.035, 0.02, 12),
                tuple(skin * 0.4),
            )
        return img

    def _texture(self) -> np.ndarray:
        """Multiplicative skin/hair texture and face shading on the canonical canvas."""
        rng = np.random.default_rng(self.ident.texture_seed)
        h, w = self.canvas_shape
        coarse = cv2.resize(
            rng.normal(0, 1, (12, 12)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC
        )
        fine = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.6)
        u = np.linspace(*_U_RANGE, w, dtype=np.float32)[None, :] / self.ident.aspect
        v = np.linspace(*_V_RANGE, h, dtype=np.float32)[:, None]
        r2 = np.clip(u**2 + v**2, 0, 1.2)
        shading = 1.05 - 0.28 * r2**2
        return (shading * (1 + 0.05 * coarse + 0.07 * fine)).astype(np.float32)

    # per frame ----------------------------------------------------------------------------
    def pose_matrix(self, fp: FrameParams) -> np.ndarray:
        """2x3 matrix mapping face coordinates to frame pixels."""
        s = self.ident.face_scale * self.size * fp.scale
        th = np.deg2rad(fp.angle)
        c, sn = s * np.cos(th), s * np.sin(th)
        tx, ty = self.size * (0.5 + fp.dx), self.size * (0.52 + fp.dy)
        return np.array([[c, -sn, tx], [sn, c, ty]])

    def _draw_expression(self, img, lm, fp):
        ident, skin = self.ident, self.ident.skin
        eh = ident.eye_h * (1 - 0.9 * fp.blink)
        for side, eye in ((-1, lm[36:42]), (1, lm[42:48])):
            cx, cy = side * ident.eye_x, ident.eye_y
            if eh > 0.012:
                self._fill(img, _ellipse(cx, cy, ident.eye_w, eh, 24), (235, 238, 240))
                r = ident.eye_w * ident.iris_ratio * 0.55
                self._fill(img, _ellipse(cx, cy, r, r, 20), ident.iris)
                self._fill(img, _ellipse(cx, cy, r * 0.45, r * 0.45, 12), (15, 15, 15))
                w = ident.eye_w
                lid_top = np.concatenate(
                    [
                        _ellipse(cx, cy, w, eh, 16, np.pi, 2 * np.pi),
                        [[cx + w, cy - 0.2]],
                        [[cx - w, cy - 0.2]],
                    ]
                )
                self._fill(img, lid_top, skin)
                lid_bot = np.concatenate(
                    [
                        _ellipse(cx, cy, w, eh, 16, 0, np.pi),
                        [[cx - w, cy + 0.15]],
                        [[cx + w, cy + 0.15]],
                    ]
                )
                self._fill(img, lid_bot, skin)
            self._line(img, eye[[0, 1, 2, 3]], (30, 30, 35), 0.02)
        self._fill(img, lm[48:60], ident.lip)
        if fp.mouth_open > 0.05:
            self._fill(img, lm[60:68], (40, 30, 60))
            top = lm[60:64]
            teeth = np.concatenate([top, top[::-1] + (0, 0.35 * (lm[64, 1] - lm[60, 1]))])
            self._fill(img, teeth, (215, 225, 230))
        else:
            self._line(img, lm[60:64], tuple(np.array(ident.lip) * 0.55), 0.015)
        if ident.glasses:
            for side in (-1, 1):
                cx, cy, rw = side * ident.eye_x, ident.eye_y, ident.eye_w * 1.45
                if ident.glasses == 1:
                    rim = _ellipse(cx, cy, rw, rw * 0.85, 28)
                else:
                    rim = np.array([(-rw, -0.7), (rw, -0.7), (rw, 0.6), (-rw, 0.6)]) * (1, rw) + (
                        cx,
                        cy,
                    )
                self._line(img, rim, ident.glasses_color, 0.025, closed=True)
            bridge = [
                (-ident.eye_x + ident.eye_w * 1.45, ident.eye_y),
                (ident.eye_x - ident.eye_w * 1.45, ident.eye_y),
            ]
            self._line(img, np.array(bridge), ident.glasses_color, 0.025)

    def render(self, fp: FrameParams):
        """Render one frame: float32 BGR image (0..255), 68 landmarks (x, y), face box."""
        lm_uv = landmarks_uv(self.ident, fp)
        head = self.base.copy()
        self._draw_expression(head, lm_uv, fp)
        head = head.astype(np.float32)
        head[..., :3] *= self.texture[..., None]
        pose = self.pose_matrix(fp)
        canvas_to_uv = np.array([[1 / self.ppu, 0, _U_RANGE[0]], [0, 1 / self.ppu, _V_RANGE[0]]])
        warp = pose[:, :2] @ canvas_to_uv
        warp[:, 2] += pose[:, 2]
        n = self.size
        layer = cv2.warpAffine(
            head,
            warp,
            (n, n),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0, 0),
        )
        alpha = layer[..., 3:] / 255.0
        frame = layer[..., :3] + (1 - alpha) * self.background
        frame *= self._lighting(fp)
        landmarks = lm_uv @ pose[:, :2].T + pose[:, 2]
        outline = face_outline(self.ident, 32) @ pose[:, :2].T + pose[:, 2]
        x0, y0 = np.floor(outline.min(0))
        x1, y1 = np.ceil(outline.max(0))
        box = (int(x0), int(y0), int(x1 - x0), int(y1 - y0))
        return frame.astype(np.float32), landmarks.astype(np.float32), box

    def _lighting(self, fp: FrameParams) -> np.ndarray:
        n = self.size
        g = (np.arange(n, dtype=np.float32) - n / 2) / n
        ramp = np.cos(fp.light_angle) * g[None, :] + np.sin(fp.light_angle) * g[:, None]
        return (fp.gain * (1 + fp.light_strength * ramp))[..., None].astype(np.float32)


def render_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Varied backgrounds: two-colour gradients, optionally with blurred shapes or texture."""
    c0, c1 = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
    th = rng.uniform(0, 2 * np.pi)
    g = np.linspace(0, 1, size, dtype=np.float32)
    t = np.clip(0.5 + (np.cos(th) * (g[None, :] - 0.5) + np.sin(th) * (g[:, None] - 0.5)), 0, 1)
    bg = (c0 * (1 - t[..., None]) + c1 * t[..., None]).astype(np.float32)
    kind = rng.integers(3)
    if kind == 1:  # shapes: furniture, windows, posters
        shapes = np.zeros_like(bg)
        mask = np.zeros((size, size), np.float32)
        for _ in range(rng.integers(2, 7)):
            color = tuple(float(c) for c in rng.uniform(0, 255, 3))
            p = rng.uniform(-0.1, 1.1, 2) * size
            r = rng.uniform(0.05, 0.3, 2) * size
            if rng.uniform() < 0.5:
                p0, p1 = (p - r).astype(int), (p + r).astype(int)
                cv2.rectangle(shapes, tuple(map(int, p0)), tuple(map(int, p1)), color, -1)
                cv2.rectangle(mask, tuple(map(int, p0)), tuple(map(int, p1)), 1.0, -1)
            else:
                center, axes = tuple(map(int, p)), tuple(map(int, r))
                cv2.ellipse(shapes, center, axes, 0, 0, 360, color, -1)
                cv2.ellipse(mask, center, axes, 0, 0, 360, 1.0, -1)
        soft = cv2.GaussianBlur(mask, (0, 0), rng.uniform(0.5, 3))[..., None]
        bg = bg * (1 - soft) + cv2.GaussianBlur(shapes, (0, 0), rng.uniform(0.5, 3)) * soft
    elif kind == 2:  # texture: wallpaper, foliage, fabric
        noise = rng.normal(0, 1, (size, size)).astype(np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), rng.uniform(0.7, 4))
        noise /= noise.std() + 1e-6
        bg = bg * (1 + rng.uniform(0.05, 0.25) * noise[..., None])
    return np.clip(bg, 0, 255).astype(np.float32)


@dataclass(frozen=True)
class Camera:
    blur_sigma: float
    noise_sigma: float
    jpeg_quality: int


def sample_camera(rng: np.random.Generator, jpeg_quality: tuple[int, int]) -> Camera:
    return Camera(
        blur_sigma=rng.uniform(0.35, 0.8),
        noise_sigma=rng.uniform(1.5, 4.0),
        jpeg_quality=int(rng.integers(jpeg_quality[0], jpeg_quality[1] + 1)),
    )


def camera(frame: np.ndarray, cam: Camera, rng: np.random.Generator) -> np.ndarray:
    """Optical blur, sensor noise, 8-bit quantisation, JPEG: float frame -> uint8 BGR."""
    img = cv2.GaussianBlur(frame, (0, 0), cam.blur_sigma)
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(cam.noise_sigma)
    img = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, cam.jpeg_quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)
