"""An example zoo plugin distribution: a small ResNet and an image-folder dataset."""
__version__ = "0.1.0"
