"""A from-scratch NumPy MLP with hand-written backprop: layers, losses, model, optimizers."""

from .layers import BatchNorm1d, Dropout, Layer, LeakyReLU, Linear, ReLU, Sigmoid, Tanh
from .losses import LOSSES, binary_cross_entropy, mse, softmax_cross_entropy
from .model import ACTIVATIONS, MLP
from .optim import (
    SGD,
    Adam,
    CosineAnnealingLR,
    ExponentialLR,
    LinearWarmup,
    StepLR,
    clip_grad_norm,
    clip_grad_value,
)
from .train import History, train

__all__ = [
    "Layer", "Linear", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Dropout", "BatchNorm1d",
    "LOSSES", "softmax_cross_entropy", "binary_cross_entropy", "mse",
    "MLP", "ACTIVATIONS",
    "SGD", "Adam", "clip_grad_value", "clip_grad_norm",
    "StepLR", "ExponentialLR", "CosineAnnealingLR", "LinearWarmup",
    "train", "History",
]
