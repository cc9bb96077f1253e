"""Face datasets: loading (npz, ImageFolder, embedded synthetic faces), splits, model input."""
from hardener.data.datasets import (FaceDataset, fingerprint, load_dataset, require_identities, subset,
                                    to_dataset_images, to_model_input)

__all__ = ["FaceDataset", "fingerprint", "load_dataset", "require_identities", "subset", "to_dataset_images",
           "to_model_input"]
