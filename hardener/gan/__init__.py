"""GANs for model-inversion attacks: the GMI generator/critic, their files, and WGAN-GP training."""
from hardener.gan.bundle import GAN_FORMAT, LoadedGAN, check_gan_matches, load_gan, save_gan_bundle
from hardener.gan.models import SUPPORTED_SIZES, Critic, Generator
from hardener.gan.samples import sample_grid
from hardener.gan.train import GanTrainResult, gradient_penalty, train_gan

__all__ = ["GAN_FORMAT", "LoadedGAN", "check_gan_matches", "load_gan", "save_gan_bundle", "SUPPORTED_SIZES",
           "Critic", "Generator", "sample_grid", "GanTrainResult", "gradient_penalty", "train_gan"]
