"""Networks by name, and checkpoints that rebuild them.

Importing this package registers every gwkit model with timm (so
``timm.create_model("resnet1d_18", in_chans=2, num_classes=1)`` works too).
Models take ``(B, 2, L)`` or the competition layout ``(B, 1, 2, L)`` and return
logits ``(B, num_classes)``; the default is one logit.

Example::

    model = create_model("resnet1d_tiny", frontend=dict(highpass=20.0, lowpass=500.0, decimate=4))
    save_checkpoint("runs/x/fold0.pt", model, epoch=3)
    model, ckpt = load_checkpoint("runs/x/fold0.pt")
"""

from gwkit.models.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from gwkit.models.cnn import GabbardCNN, GWCNNBaseline
from gwkit.models.frontend import FrontEnd, FrontEndModel, with_frontend
from gwkit.models.registry import create_model, list_models, model_spec
from gwkit.models.resnet1d import ResNet1d

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "FrontEnd",
    "FrontEndModel",
    "GWCNNBaseline",
    "GabbardCNN",
    "ResNet1d",
    "create_model",
    "list_models",
    "load_checkpoint",
    "model_spec",
    "read_checkpoint",
    "save_checkpoint",
    "with_frontend",
]
