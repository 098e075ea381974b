"""Training of the offline model pack: autoencoder, latent diffusion UNet, mini scorer.

Every part resumes from its last checkpoint, runs on CPU or CUDA, logs its loss as JSON lines and
writes samples or evaluation figures at each checkpoint. Nothing is loaded at import time.
"""
