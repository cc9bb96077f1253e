"""Face datasets: loading (npz, ImageFolder) and conversion to a model's input."""
from hardener.data.datasets import FaceDataset, load_dataset, to_model_input

__all__ = ["FaceDataset", "load_dataset", "to_model_input"]
