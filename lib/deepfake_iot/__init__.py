"""Helper library of the deepfake IoT detection compendium.

Two sides, one rule: the TensorFlow side (augment, pipeline, models, train, quantize) may import
TensorFlow; everything else (paths, params, data, figures, report, bench, demo) never does, so
the device notebook runs with only a TFLite runtime and importing a helper stays cheap.

Where things are, in data-flow order (and what a newcomer edits):

==========================  ==================================================================
``params/default.yaml``     every parameter of every notebook, commented; profiles override it
``data/layouts.py``         a real dataset's folder layout -> one row per video (add a loader:
                            an ``index_<name>`` function and its entry in ``index_dataset``)
``data/synthetic.py``,      the embedded synthetic benchmark, its renderer and self-blending
``data/render.py``,
``data/sbi.py``
``data/faces.py``           face detectors and the one crop path (extraction, benchmark, demo)
``data/manifest.py``        identity splits, leakage proof, manifest I/O
``data/probe.py``           the shortcut probe of notebook 01
``degrade.py``,             the IoT degradations, OpenCV and in-graph twins (add a degradation:
``augment.py``              both files, plus ``params/default.yaml``'s ``robustness_names``)
``pipeline.py``             the ``tf.data`` input pipeline
``models.py``               the light CNN and the baselines (add a baseline: ``_backbone`` or a
                            ``build_<name>`` in ``build_model``, plus ``params``' ``models``)
``train.py``                training, resumable, with its cards
``quantize.py``             TFLite conversion and QAT
``metrics.py``              formulas: AUC, EER, bootstrap over groups, paired differences (add a
                            metric here, then show it in ``evaluate.test_report``)
``evaluate.py``             scoring files and models; the tables of notebook 05
``analysis.py``             notebook 03's training plan, notebook 05's studies and sentences
``plots.py``, ``figures.py``  every figure (add a figure: a function in ``plots.py``, saved by
                            ``Run.save_figure`` in its notebook)
``bench.py``, ``facebench.py``  the device benchmark and the frame path (notebook 06)
``targets.py``              the performance targets, met or missed
``report.py``, ``run.py``   paper macros and tables; a notebook's run, paths and provenance
==========================  ==================================================================
"""

__version__ = "0.1.0"
