"""Models: scikit-learn baselines, the Keras model and its keras-tuner search."""
