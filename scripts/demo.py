#!/usr/bin/env python3
"""Classify faces in an image, a video or a camera stream with a .tflite file (no TensorFlow).

python scripts/demo.py --model models/tflite/light_cnn/int8_ptq.tflite --image face.jpg --out annotated.png
python scripts/demo.py --model models/tflite/light_cnn/int8_ptq.tflite --video clip.mp4 --out annotated.mp4
python scripts/demo.py --model models/tflite/light_cnn/int8_ptq.tflite --camera 0      # a window; q quits
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

import cv2  # noqa: E402

from deepfake_iot.demo import (  # noqa: E402
    Detector,
    default_output,
    has_display,
    run_on_images,
    run_on_video,
    summarize,
    write_image,
    write_log,
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", required=True, type=Path, help=".tflite file with its sidecar .json beside it"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", type=Path)
    source.add_argument("--video", type=Path)
    source.add_argument("--images", type=Path, help="a folder of images")
    source.add_argument("--camera", type=int, help="camera index, e.g. 0")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--out", type=Path, help="annotated .png (image), .mp4 (video, camera) or folder (images)"
    )
    parser.add_argument("--log", type=Path, help="CSV log, one row per frame")
    parser.add_argument(
        "--smooth", type=int, default=1, help="average P(fake) over this many frames (video)"
    )
    parser.add_argument(
        "--max-frames", type=int, default=0, help="stop after this many frames (0: all)"
    )
    parser.add_argument(
        "--no-window",
        action="store_true",
        help="never open a window (the default without a display); the annotated result is "
        "written to --out, or to <input>_annotated.png/.mp4 in the current folder",
    )
    args = parser.parse_args(argv)
    try:
        detector = Detector(args.model, threads=args.threads, smooth=args.smooth)
        show = not args.no_window and has_display()
        out = args.out
        if out is None and not show:  # headless: the annotated file is the only output
            out = default_output(args.image, args.video, args.images, args.camera)
        if args.image is not None:
            frame = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
            if frame is None:
                raise FileNotFoundError(f"cannot read image {args.image}")
            annotated, result = detector.annotate(frame)
            if out is not None:
                write_image(out, annotated)
            if show:
                cv2.imshow("deepfake-iot", annotated)
                cv2.waitKey(0)
            results = [{"frame": args.image.name, **result}]
        elif args.images is not None:
            results = run_on_images(detector, args.images, out)
        else:
            source = str(args.video) if args.video is not None else args.camera
            if args.video is not None and not args.video.is_file():
                raise FileNotFoundError(f"video {args.video} not found")
            results = run_on_video(detector, source, out, show, args.max_frames)
        if args.log:
            write_log(results, args.log)
        summary = summarize(results)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"{summary['frames']} frame(s), {summary['faces']} with a face, {summary['fake']} judged fake; "
        f"mean {summary['mean_ms']:.1f} ms per frame ({detector.runtime}, {args.threads} thread(s))"
    )
    if out is not None:
        print(f"annotated output: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
