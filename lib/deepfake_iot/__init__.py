"""Helper library of the deepfake IoT detection compendium.

Two sides, one rule: the TensorFlow side (augment, pipeline, models, train, trained, quantize,
onnx_export, explain) may import TensorFlow; everything else (paths, params, data, plan, metrics,
calibration, evaluate, studies, analysis, plots, device_plots, publish, inference, onnx_backend,
machine, timing, frame_path_study, detector_study, runtimes, classifier, demo, score, progress,
presentation, sources, events, the commands) never does, so the device notebook runs with only a TFLite runtime (and ONNX
Runtime where installed) and importing a helper stays cheap.

Where things are, in data-flow order (and what a newcomer edits):

==========================  ==================================================================
``params/default.yaml``     every parameter of every notebook, commented; profiles override it
``paths.py``                the output folders, atomic writes, and ``HANDOFFS``: every file one
                            notebook writes and another reads, named once (``Run.handoff``)
``data/layouts.py``         a real dataset's folder layout -> one row per video (add a loader:
                            an ``index_<name>`` function and its entry in ``index_dataset``)
``data/build.py``           a dataset choice -> face crops (synthetic render or a real layout)
``data/synthetic.py``,      the embedded synthetic benchmark, its renderer and self-blending
``data/render.py``,
``data/sbi.py``
``data/faces.py``           face detectors and the one crop path (extraction, benchmark, demo)
``data/tracking.py``        following a moving face from frame to frame (detect-then-track)
``data/splits.py``          identity splits that keep videos, groups and identities whole, the
                            official test lists, the leakage proof, class balancing
``data/near_duplicates.py`` near-duplicate crops across splits (perceptual hash, then pixels)
``data/manifest.py``        the manifest's input and output, its crops as model inputs, the
                            dataset's numbers and names (notebook 01's macros)
``data/methods.py``         manipulation methods: which exist, their rows, one left out
``data/probe.py``,          the shortcut probe of notebook 01; the second, cross-dataset set
``data/cross.py``
``degrade.py``,             the IoT degradations, OpenCV and in-graph twins (add a degradation:
``augment.py``              both files, plus ``params/default.yaml``'s ``robustness_names``)
``pipeline.py``             the ``tf.data`` input pipeline
``models.py``               the light CNN and the baselines (add a baseline: ``_backbone`` or a
                            ``build_<name>`` in ``build_model``, ``plan.model_options`` if it
                            takes options, plus ``params``' ``models``)
``plan.py``                 notebook 03's trainings (models x seeds, the studies) and their table
``train.py``                training, resumable, with its cards; one planned run; the recipe
``trained.py``              loading a finished run's model safely (no code of its own runs)
``quantize.py``             TFLite conversion, QAT and the checks of every file
``onnx_export.py``          each verified ``.tflite`` converted to ONNX (tf2onnx) and checked
                            against it: ``models/onnx/``, the export table
``metrics.py``              formulas: AUC, EER, F1, thresholds, bootstrap over groups, paired
                            differences (add a metric here, then show it in
                            ``evaluate.test_report``)
``calibration.py``          reliability tables, calibration error, Platt scaling and its prior
``evaluate.py``             scoring model files (the one scoring path), test reports, score
                            tables, sidecar updates, the seed table and the paired model comparisons
``studies.py``              notebook 05's studies: degradations, self-blending, left-out methods,
                            the second dataset, and whether the deployed configuration agrees
``analysis.py``             notebook 05's errors, explanation cases, sentences and macros
``gate.py``                 the face gate on presentations: APCER per attack type, thresholds
                            from validation, the operating points a sidecar carries
``presentation.py``         the gate on a device: a frame stream's presentations decided at the
                            sidecar's operating point (the definitions ``gate.py`` evaluates)
``gate_command.py``,        the gate as a command (``scripts/gate.py``): frame sources (camera,
``sources.py``,             picamera2, stream, video, images) and its events (a JSON-lines file,
``events.py``               MQTT with a retained status and a queue while the broker is away)
``plots.py``                every figure of notebooks 01-05, drawn (add a figure: a function
                            here, saved by ``Run.save_figure`` in its notebook); ``explain.py``
                            computes Grad-CAM
``device_plots.py``         notebook 06's figures: latency, runtimes, threads, trade-off, face
                            detectors, the frame path
``machine.py``              this machine as a benchmark reports it (board, CPU, GPU, OS), the
                            thread counts it can time, a process's peak memory
``timing.py``               invoke timing of every model file, its result files, the latency
                            table, trade-off and macros (notebook 06)
``frame_path_study.py``     the whole frame path on camera frames (decode, detect, crop,
                            classify), its table, sentence and macros, the demo's memory
``detector_study.py``       the face detectors and the gate's tracker on camera frames of a real
                            portrait: detection rate under the degradations, false boxes
``runtimes.py``             the runtimes side by side, each in a process of its own: LiteRT on
                            ``.tflite``, ONNX Runtime on ``.onnx``, the provider named
``claims.py``               the paper's claims, met or missed, each limit a ``target_*``
                            parameter (add a claim: the parameter, a ``Limits`` field, its row)
``notebook_run.py``         inside a notebook: its run (``Run``), folders, hand-offs, and publishing
``publish.py``              figures (with provenance), tables and macros written for the paper
``run_all.py``              outside the notebooks: run them all with papermill (``run_all.sh``)
``build_facts.py``          the facts of the paper's build: commit, machine, which notebook drew a
                            figure, which optional studies ran
``inference.py``            loading and invoking a model file: ``.tflite`` on a TFLite runtime,
``onnx_backend.py``         ``.onnx`` on ONNX Runtime (execution providers TensorRT, CUDA, CPU)
``classifier.py``           one frame in, a verdict out: face, crop, model file and sidecar,
                            timings, the overlay drawn (the demo, the gate and scoring use it)
``demo.py``, ``demo_model.py``  the camera demo and its committed model; ``browse.py`` a run's files
``demo_command.py``,        the installed commands (``[project.scripts]``): the demo, scoring
``score.py``,               one's own labelled data, the frame-path benchmark; ``cli.py`` their
``frame_path_command.py``,  checked flags and quiet native output
``cli.py``
``progress.py``             where a running notebook is: the kernel's status line, the runner's ticker
``params.py``,              parameter files and notebook parameters; provenance stamps (commit,
``provenance.py``           versions)
``data/intake.py``,         reading real dataset folders safely: archives, videos, frames, frame
``data/archive.py``,        extraction and the manifest's columns
``data/extract.py``,
``data/frames.py``,
``data/schema.py``
==========================  ==================================================================
"""

__version__ = "0.1.0"
