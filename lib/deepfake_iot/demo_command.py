"""Classify faces in an image, a video or a camera stream with a .tflite or .onnx file (no TensorFlow).

The command ``deepfake-iot-demo`` (also ``python -m deepfake_iot.demo`` and ``scripts/demo.py``):

deepfake-iot-demo --camera 0                  # the committed demo model; a window, q quits
deepfake-iot-demo --model models/tflite/light_cnn/int8_ptq.tflite --image face.jpg --out annotated.png
deepfake-iot-demo --model models/tflite/light_cnn/int8_ptq.tflite --video clip.mp4 --wait-ms 40

Without --model it runs demo/light_cnn_int8_synthetic.tflite, trained on the embedded synthetic
benchmark: it shows the pipeline working, it is not a detector for real faces.

The first line says what the model is (its sidecar's trained_on and note), the last one the
frames, faces, verdicts and timings. A window needs a display and OpenCV with its GUI
(requirements-device-gui.txt); otherwise the annotated result is written to --out, or to
<input>_annotated.png/.mp4 in the current folder. Every error is one line on stderr and exit
code 2 (a bad flag: argparse's usage line and the error naming the flag). A camera that stops
delivering frames mid-run is not an error: a warning, the frames processed so far are kept (log
and annotated file), exit code 0. A model without a sidecar runs with the defaults (threshold
0.5, class order real/fake) and a one-line warning. The runtime's and OpenCV's own messages stay
off the terminal unless --verbose (or DFIOT_VERBOSE=1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

from deepfake_iot.classifier import DeepfakeClassifier
from deepfake_iot.cli import (
    apcer_target,
    existing_dir,
    existing_file,
    int_at_least,
    quiet_native_stderr,
    silence_opencv,
    verbose_requested,
)
from deepfake_iot.cli import (
    one_line as cli_one_line,
)
from deepfake_iot.data.faces import DETECTOR_NAMES
from deepfake_iot.demo import (
    NO_GUI,
    check_output,
    default_output,
    gui_problem,
    has_display,
    run_on_images,
    run_on_video,
    show_frame,
    summarize,
    write_image,
    write_log,
)
from deepfake_iot.demo_model import demo_model_path
from deepfake_iot.presentation import PresentationGate, operating_point

ERRORS = (OSError, ValueError, ImportError, cv2.error)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="deepfake-iot-demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=existing_file, default=demo_model_path(),
                        help=".tflite or .onnx file with its sidecar .json beside it (default: the committed demo "
                             "model, trained on synthetic faces only)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", type=existing_file)
    source.add_argument("--video", type=existing_file)
    source.add_argument("--images", type=existing_dir, help="a folder of images")
    source.add_argument("--camera", type=int_at_least(0), help="camera index, e.g. 0")
    parser.add_argument("--detector", choices=DETECTOR_NAMES,
                        help="face detector (default: the sidecar's face_detector, else blazeface_short)")
    parser.add_argument("--detector-model", type=existing_file, help="the face detector's model file, where it takes one")
    parser.add_argument("--threads", type=int_at_least(1), default=1, help="runtime threads (default: 1)")
    parser.add_argument("--providers", help="ONNX Runtime execution providers for an .onnx model, in order, "
                        "comma-separated: tensorrt, cuda, cpu (default: TensorRT, CUDA, then CPU, those installed)")
    parser.add_argument("--out", type=Path, help="annotated .png (image), .mp4 (video, camera) or folder (images)")
    parser.add_argument("--log", type=Path, help="CSV log, one row per frame")
    parser.add_argument("--smooth", type=int_at_least(1), default=1,
                        help="average P(fake) over this many frames (video; default 1: no smoothing)")
    parser.add_argument("--apcer", type=apcer_target, default=0.05,
                        help="the overlay also shows the gate's decision per presentation at this target APCER "
                             "(0.01, 0.05 or 0.10; the sidecar's operating point and window, as deepfake-iot-gate)")
    parser.add_argument("--track", action="store_true",
                        help="follow the face from frame to frame (detect-then-track) instead of searching "
                             "every frame, as deepfake-iot-gate does")
    parser.add_argument("--max-frames", type=int_at_least(0), default=0, help="stop after this many frames (0: all)")
    parser.add_argument("--wait-ms", type=int_at_least(0), default=1,
                        help="with a window, wait this long per frame (a video then plays at a watchable "
                             "speed, e.g. 40; 0: until a key is pressed); q or Esc quits")
    parser.add_argument("--no-window", action="store_true",
                        help="never open a window (the default without a display); the annotated result is "
                             "written to --out, or to <input>_annotated.png/.mp4 in the current folder")
    parser.add_argument("--verbose", action="store_true",
                        help="let the TFLite runtime and OpenCV print their own messages (also DFIOT_VERBOSE=1)")
    return parser.parse_args(argv)


def _prepare(args, verbose: bool):
    """The classifier with its presentation gate, whether a window shows, the annotated output
    (checked writable), and a note when a window was asked for but cannot open."""
    inputs = (args.image, args.video, args.images, args.camera)
    with quiet_native_stderr(verbose):  # the runtime's "Created ... XNNPACK delegate" line
        classifier = DeepfakeClassifier(args.model, detector=args.detector, detector_model=args.detector_model,
                                        threads=args.threads, smooth=args.smooth, track=args.track,
                                        providers=args.providers)
    point = operating_point(classifier.sidecar, args.apcer)
    classifier.presentations = PresentationGate(classifier.sidecar, point)
    show, out, no_gui_note = not args.no_window and has_display(), args.out, None
    problem = gui_problem() if show else None
    if problem:
        show, out = False, out or default_output(*inputs)
        hint = "; install requirements-device-gui.txt for a window" if problem == NO_GUI else ""
        no_gui_note = f"no window: {problem}{hint}. Writing the annotated file instead: {out}"
    if out is None and not show:  # headless: the annotated file is the only output
        out = default_output(*inputs)
    if out is not None:
        check_output(out, "image" if args.image else "folder" if args.images else "video")
    if args.log is not None:
        check_output(args.log)
    return classifier, point, show, out, no_gui_note


def _frames(args, classifier, out, show):
    """Every frame's result of the chosen input."""
    if args.image is not None:
        return [run_on_image(classifier, args.image, out, show)]
    if args.images is not None:
        return run_on_images(classifier, args.images, out, show, args.wait_ms)
    source = str(args.video) if args.video is not None else args.camera
    return run_on_video(classifier, source, out, show, args.max_frames, args.wait_ms)


def main(argv=None) -> int:
    args = parse_args(argv)
    verbose = verbose_requested(args.verbose)
    silence_opencv(verbose)
    try:
        classifier, point, show, out, no_gui_note = _prepare(args, verbose)
    except ERRORS as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2
    classifier.announce()
    if point.note and classifier.sidecar.get("gate"):  # an older sidecar: the demo's threshold, quietly
        print(f"note: {point.note}", file=sys.stderr, flush=True)
    if no_gui_note:
        print(no_gui_note, file=sys.stderr, flush=True)
    results, failure = [], None
    try:
        for result in _frames(args, classifier, out, show):
            results.append(result)
    except Exception as error:  # noqa: BLE001 - any failure: what came before is still logged
        failure = error
    try:
        if args.log is not None and (results or failure is None):
            write_log(results, args.log)
    except ERRORS as error:
        failure = failure or error
    if failure is not None:
        print(f"error: {one_line(failure)}", file=sys.stderr)
        return 2
    summary = summarize(results)
    print(f"{summary['frames']} frame(s), {summary['faces']} with a face, {summary['fake']} judged "
          f"fake; mean {summary['mean_ms']:.1f} ms per frame (detector {classifier.detector} "
          f"{summary['mean_detect_ms']:.1f} ms), {summary['fps']:.1f} fps ({classifier.runtime}, {args.threads} thread(s))")
    if out is not None and Path(out).exists():  # a run without frames writes nothing
        print(f"annotated output: {out}")
    elif out is not None:
        print(f"no annotated output: no frame was processed, {out} was not written")
    return 0


def run_on_image(classifier, path: Path, out: Path | None, show: bool) -> dict:
    frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if frame is None:
        raise ValueError(f"cannot read image {path}")
    annotated, result = classifier.annotate(frame)
    if out is not None:
        write_image(out, annotated)
    if show:
        show_frame(annotated, 0)  # until a key is pressed
    return {"frame": path.name, **result}


def one_line(error: BaseException) -> str:
    """The error's message on one line; an unexpected kind of error also names its type."""
    return cli_one_line(error, ERRORS)


if __name__ == "__main__":
    sys.exit(main())
