"""The Image lab's explanations: what each view shows, with its equation (Markdown with LaTeX, $...$ and $$...$$).

Keep every inline formula on one line: the Markdown renderer does not join $...$ across line breaks.
"""
import json

from diffusion import hub
from diffusion.labs.image_runs import MAX_RUN_SECONDS

INTRO_MD = f"""
## Image lab: a real, pretrained diffusion model
The default model is a small DDPM trained by this project on MNIST digits; it ships with the lab and works
offline. You can also load any diffusers `UNet2DModel` DDPM checkpoint from the Hugging Face Hub by its id
(safetensors weights only, at most {hub.MAX_DOWNLOAD_BYTES // 2**20} MB). Before each run the lab estimates its
time from the network's measured cost; runs estimated over **{MAX_RUN_SECONDS:.0f} s** are refused — use fewer
steps or a smaller batch.
"""
FORWARD_MD = r"""
### Forward process: adding noise
$$x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon, \qquad \varepsilon \sim \mathcal N(0, I)$$
One noise image $\varepsilon$ (fixed by the seed) is mixed in more and more as $t$ grows.
$\bar\alpha_t = \prod_{s \le t}(1-\beta_s)$ is the share of signal left and
$\mathrm{SNR}_t = \bar\alpha_t / (1-\bar\alpha_t)$. The second panel is the model's guess of the clean image from
$x_t$ alone, $\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\hat\varepsilon)/\sqrt{\bar\alpha_t}$.
"""
REVERSE_MD = r"""
### Reverse process: sampling from noise
Start from pure noise $x_T \sim \mathcal N(0, I)$ and step back. At each step the network predicts the noise
$\hat\varepsilon = \varepsilon_\theta(x_t, t)$, hence the clean image
$\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\hat\varepsilon)/\sqrt{\bar\alpha_t}$, and the sampler moves towards it.
DDPM draws $x_{t-1} \sim \mathcal N\big(\tfrac{\sqrt{\bar\alpha_{t-1}}\beta_t}{1-\bar\alpha_t}\hat x_0 +
\tfrac{\sqrt{\alpha_t}(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}x_t,\ \tilde\beta_t I\big)$ (Ho et al. 2020, eq. 6–7);
DDIM takes $x_{t-1} = \sqrt{\bar\alpha_{t-1}}\,\hat x_0 + \sqrt{1-\bar\alpha_{t-1}-\sigma_t^2}\,\hat\varepsilon +
\sigma_t z$ with $\sigma_t = \eta\,\sqrt{\tilde\beta_t}$ (Song et al. 2021, eq. 12): $\eta = 0$ is deterministic.
"""
RESTORE_MD = r"""
### Noise and restore (SDEdit)
Noise the picture to level $t_0$, $x_{t_0} = \sqrt{\bar\alpha_{t_0}}\,x_0 + \sqrt{1-\bar\alpha_{t_0}}\,\varepsilon$,
then run the reverse process from $t_0$ back to 0 (Meng et al. 2022). A small $t_0$ keeps the picture; a large one
leaves the model free to invent — and pulls any picture towards what the model knows.
"""


def _latent_sizes() -> dict:
    """The bundled latent model's sizes, read from its configs (the sentences below quote them)."""
    try:
        vae = json.loads((hub.BUNDLED_LDM_DIR / "vae" / "config.json").read_text())
        unet = json.loads((hub.BUNDLED_LDM_DIR / "unet" / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    side, c, h = vae["sample_size"], unet["in_channels"], unet["sample_size"]
    return dict(pixels=side * side * vae["in_channels"], side=side, c=c, h=h, latents=c * h * h,
                factor=vae["scaling_factor"])


def latent_md(sizes: dict) -> str:
    if not sizes:
        return "### Pixel vs latent\nThe bundled latent model is missing (assets/mnist-ldm)."
    s = sizes
    return rf"""
### Pixel vs latent: diffusion in an autoencoder's latent space (latent diffusion, as in Stable Diffusion)
An autoencoder squeezes each {s['side']} × {s['side']} digit ({s['pixels']} numbers) into a {s['h']} × {s['h']} ×
{s['c']} latent ({s['latents']} numbers) and decodes it back; a DDPM is trained on the latents instead of the pixels.
Sampling is the same sampler on a smaller $x$: $z_T \sim \mathcal N(0, I)$, then the reverse process on $z_t$, then
one decode, $x = D(z_0 / s)$. The sampler knows nothing of the autoencoder.

**Why:** each network call works on {s['pixels'] // s['latents']} × fewer numbers, and the autoencoder has already
thrown away detail the eye does not need, so the diffusion model spends its capacity on the digit's structure.
**The scaling factor** $s = {s['factor']:.4g}$ = 1 / std of the training digits' latents (measured once, stored in
the autoencoder's config, as diffusers does): it gives the latents unit variance, so the noise schedule means the
same as for pixels. **What is lost:** no latent sample can be better than the autoencoder's reconstructions.

Rows: the latent $z_t$ (its {s['c']} channels as small pictures, grey = 0, black/white = ∓3), the decoded $z_t$ and
the decoded prediction $\hat z_0$; then the pixel model's $x_t$ and $\hat x_0$ from the same seed and sampler. The cost
lines are measured in each run.
"""


LATENT_MD = latent_md(_latent_sizes())
