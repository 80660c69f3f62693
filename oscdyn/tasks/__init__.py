"""Long-dependency tasks and their training loop (``oscdyn train-task``).

Tasks, generated on the fly from a seeded ``torch.Generator`` (no download): the adding
problem, the copy task, noise padding of any one-answer task, and sequential / permuted
MNIST read from a user's file. Models: the built-in oscillator systems compiled with
``oscdyn.compile`` plus a linear readout, ``torch.nn.LSTM``, and unitary cells.
"""

from .adding import ADDING_BASELINE_MSE, AddingProblem
from .base import Baseline, SequenceTask
from .checkpoint import CHECKPOINT_NAME, TrainingCheckpoint
from .copy import CopyTask
from .experiment import TASK_NAMES, Experiment, build_task, run_experiment
from .mnist import MNIST_SOURCES, SequentialMNIST, load_mnist, read_idx
from .models import MODELS, ModelSpec, Settings, build_model, resolve_settings
from .noise_padded import NoisePadded
from .train import BatchSource, TrainResult, evaluate, held_out_set, train, train_step

__all__ = [
    "SequenceTask",
    "Baseline",
    "AddingProblem",
    "ADDING_BASELINE_MSE",
    "CopyTask",
    "NoisePadded",
    "SequentialMNIST",
    "load_mnist",
    "read_idx",
    "MNIST_SOURCES",
    "TASK_NAMES",
    "build_task",
    "MODELS",
    "ModelSpec",
    "Settings",
    "resolve_settings",
    "build_model",
    "BatchSource",
    "held_out_set",
    "train_step",
    "evaluate",
    "train",
    "TrainResult",
    "TrainingCheckpoint",
    "CHECKPOINT_NAME",
    "Experiment",
    "run_experiment",
]
