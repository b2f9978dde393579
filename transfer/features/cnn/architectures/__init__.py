"""Keras 3 builders of the architectures that converted weights need.

Each module has ``build(input_shape=(size, size, 3), *, include_top=True,
classes=1000) -> keras.Model``. Conventions every builder follows, so that
:class:`transfer.features.cnn.CNNFeatures` and fine-tuning treat them like
``keras.applications`` models:

* the pooled feature vector is the output of the model's last
  ``GlobalAveragePooling2D`` layer, named ``"global_pool"``;
* with ``include_top`` a ``Dense`` layer named ``"logits"`` (no activation)
  follows and the model outputs logits; without it the model outputs the
  pooled vector;
* the layers of the i-th block are named ``block{i}_...`` (stem ``stem_...``,
  head ``head_...``), which is how fine-tuning finds "the top k blocks".

Keras is imported inside the builders only.
"""
