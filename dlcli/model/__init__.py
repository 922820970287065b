"""The model: its layer table without TensorFlow (``specs``), the Keras model (``build``), and what its
output means (``head``)."""
