"""The detector: model definitions, pretrained backbones, checkpoints, inference and Grad-CAM."""
