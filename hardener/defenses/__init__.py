"""Defenses, one file each with one entry function: decoy (the patent), tldmi (transfer learning), vae_mp
(VAE + metric-privacy synthetic data); ewc holds the EWC penalty the decoy defense uses."""
