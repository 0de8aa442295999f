"""Helper library of the deepfake IoT detection compendium.

Two sides, one rule: the TensorFlow side (augment, pipeline, models, train, quantize) may import
TensorFlow; everything else (paths, params, data, figures, report, bench, demo) never does, so
the device notebook runs with only a TFLite runtime and importing a helper stays cheap.
"""

__version__ = "0.1.0"
