"""Learning features on a dataset A: the ``train:`` stage of recipes.

- :mod:`~transfer.train.architectures`: the networks (LeNet-5, the ConvNetJS
  CIFAR-10 network, a DeepID2-style face network, a small ResNet), registered
  by name;
- :mod:`~transfer.train.trainer`: :class:`NetworkTrainer` (the training
  parameters) and :func:`train_network` (train, checkpoint, resume, save
  ``model.keras`` with its card);
- :mod:`~transfer.train.extractor`: :class:`TrainedFeatures`, the trained
  network frozen at any named layer (extractor ``trained``).
"""

from transfer.train import architectures, report
from transfer.train.extractor import TrainedFeatures
from transfer.train.trainer import NetworkTrainer, TrainingError, train_key, train_network

__all__ = [
    "NetworkTrainer",
    "TrainedFeatures",
    "TrainingError",
    "architectures",
    "report",
    "train_key",
    "train_network",
]
