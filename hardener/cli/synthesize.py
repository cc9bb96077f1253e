"""`hardener synthesize`: a synthetic training set from a VAE with metric-privacy noise (VAE-MP defense)."""
from __future__ import annotations

from pathlib import Path

import typer

from hardener.cli.common import DeviceOption, JsonOption, console, handles_errors, print_json, print_warnings


@handles_errors
def synthesize(
    data: str = typer.Argument(..., help="Private training data: .npz (images, labels, names), an ImageFolder, or synthetic:ids=N,per=M."),
    epsilon: float = typer.Option(..., "--epsilon", help="Metric-privacy epsilon in latent space: noise radius averages latent-dim/epsilon (smaller: more noise)."),
    out: Path = typer.Option(..., "--out", help="Output folder: synthetic.npz, vae.safetensors, report.json, grid.png."),
    vae: Path = typer.Option(None, "--vae", help="Reuse this trained VAE (a vae.safetensors from an earlier run) instead of training one."),
    epochs: int = typer.Option(None, "--epochs", help="VAE training epochs (default 20)."),
    latent_dim: int = typer.Option(None, "--latent-dim", help="VAE latent dimension d (default 64)."),
    image_size: int = typer.Option(None, "--image-size", min=8, max=1024, help="32 or 64 (default: the data's size if 32 or 64, else 64)."),
    width: int = typer.Option(None, "--width", help="VAE base channel width (default 32)."),
    batch_size: int = typer.Option(64, "--batch-size", help="VAE training batch size."),
    lr: float = typer.Option(1e-3, "--lr", help="VAE Adam learning rate."),
    seed: int = typer.Option(0, "--seed", help="Seed for the VAE's training only (the privacy noise has its own seed)."),
    noise_seed: int = typer.Option(None, "--noise-seed", help="Make the privacy noise reproducible (tests, benchmarks). Default: a secret seed that is never recorded. Anyone who knows this seed can remove the noise: a set made with it is not private."),
    device: str = DeviceOption,
    resume: bool = typer.Option(False, "--resume", help="Continue the VAE's interrupted training from the checkpoint in --out (same options and data)."),
    as_json: bool = JsonOption,
) -> None:
    """Train a VAE on private faces and write one synthetic image per original (label kept) from its
    noisy latent code; then train the released model on synthetic.npz."""
    from hardener.cli.progress import progress_bar
    from hardener.jobs.synthesize import SynthesizeJob, check_job, run_synthesize

    job = SynthesizeJob(data=data, epsilon=epsilon, out=out, vae=vae, epochs=epochs, latent_dim=latent_dim,
                        image_size=image_size, width=width, batch_size=batch_size, lr=lr, seed=seed,
                        noise_seed=noise_seed, device=device, resume=resume)
    check_job(job)  # bad options: one error line, before the progress bar draws anything
    with progress_bar(enabled=not as_json) as progress:
        report = run_synthesize(job, progress)
    print_warnings(report["warnings"])  # one line each on stderr: keep the VAE private; a known --noise-seed
    if as_json:
        print_json(report)
        return
    m = report["metrics"]
    v = report["vae"]
    origin = f"trained {v['epochs']} epochs in {v['seconds']:.1f} s" if v["trained"] else "reused"
    console.print(f"VAE ({origin}): latent dim {report['latent_dim']}, {report['image_size']} px -> {v['path']}",
                  highlight=False)
    console.print(f"reconstruction MSE {m['reconstruction_mse']:.4f} (constant mean image {m['constant_mean_image_mse']:.4f}); "
                  f"latent code norm ~{m['latent_code_norm'].get('median', 0):.2f}", highlight=False)
    console.print(f"epsilon {report['epsilon']:g}: noise radius {m['noise_radius']['measured_mean']:.3g} "
                  f"(expected {m['noise_radius']['expected_mean']:.3g}); original vs synthetic MSE "
                  f"{m['mse_original_vs_synthetic']:.4f}", highlight=False)
    console.print(f"noise seed: {report['seeds']['noise']}", highlight=False)
    console.print(f"{report['synthetic']['images']} synthetic images -> {report['synthetic']['path']}; "
                  f"grid {report['grid']}", highlight=False)
    console.print(f"next: {report['next_step']}", highlight=False)
