"""The Image lab tab: a real pretrained image DDPM, forward noising, reverse sampling, noise-and-restore.

``build_image_tab()`` creates the components inside the current gr.Blocks / gr.Tab and wires the events to the
handlers of :mod:`.handlers` (each a named API endpoint)."""
from __future__ import annotations

import gradio as gr

from diffusion import hub
from diffusion.labs.image_runs import MAX_BATCH, SDEDIT_SAMPLERS
from diffusion.samplers import SAMPLERS

from ..serving.session import SESSION_TTL_S, close_session
from ..widgets.export import export_row
from ..widgets.pictures import example_names
from ..widgets.scrubber import placeholder_html, play_js, scrub_js
from ..widgets.text import LATEX
from .handlers import (DEFAULT_SETTINGS, FWD_ID, FWD_SLIDER, RES_ID, RES_SLIDER, REV_ID, REV_SLIDER, estimate, forward,
                       frame_png, load_model, make_gif, on_load, restore, sample_images, select_image, stop)
from .latent import build_latent_tab
from .text import FORWARD_MD, INTRO_MD, RESTORE_MD, REVERSE_MD


# --- layout and wiring -----------------------------------------------------------------------------------------
def build_image_tab() -> None:
    """Create the Image lab's components inside the current gr.Blocks / gr.Tab and wire their events."""
    state = gr.State(None, time_to_live=SESSION_TTL_S, delete_callback=close_session)
    gr.Markdown(INTRO_MD, elem_classes="dl-explain")
    with gr.Row():
        model_name = gr.Dropdown([hub.BUNDLED_ID, hub.BUNDLED_COND_ID, *hub.SUGGESTED_IDS], value=hub.BUNDLED_ID, allow_custom_value=True,
                                 label="Model", scale=3,
                                 info="the bundled MNIST model, a suggested Hub id, or type any owner/name")
        load_btn = gr.Button("Load model", scale=1)
    model_md = gr.Markdown(elem_id="img-model")

    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            names = example_names()
            example = gr.Dropdown(names, value=names[0], label="Example image")
            upload = gr.File(label="…or upload an image (it replaces the example; clear it to go back)",
                             file_types=["image"], type="filepath", height=110)
            with gr.Row():
                invert = gr.Checkbox(False, label="Invert (MNIST digits are white on black)")
                fwd_seed = gr.Number(0, precision=0, minimum=0, label="Noise seed")
        with gr.Column(scale=1):
            converted = gr.Image(label="What the model sees", type="pil", interactive=False, format="png",
                                 height=200)
            picture_md = gr.Markdown(elem_id="img-picture")

    with gr.Tabs():
        with gr.Tab("Forward"):
            gr.Markdown(FORWARD_MD, latex_delimiters=LATEX)
            fwd_btn = gr.Button("Show the forward process", variant="secondary")
            fwd_scrub = gr.HTML(placeholder_html("Loading…"), elem_id=FWD_ID)
            fwd_t = gr.Slider(0, 1, 0, step=1, label="Noise level (slide right: more noise)", elem_id=FWD_SLIDER)
            fwd_play = gr.Button("▶ Play (clean → noise)", size="sm")

        with gr.Tab("Reverse"):
            gr.Markdown(REVERSE_MD, latex_delimiters=LATEX)
            with gr.Row():
                sampler = gr.Dropdown(list(SAMPLERS), value=DEFAULT_SETTINGS["sampler"], label="Sampler", elem_id="img-sampler")
                steps = gr.Slider(1, 1000, DEFAULT_SETTINGS["steps"], step=1, label="Steps")
                eta = gr.Slider(0.0, 1.0, DEFAULT_SETTINGS["eta"], step=0.05, label="η (DDIM only)",
                                info="0: deterministic; 1: as noisy as DDPM")
            with gr.Row():
                batch = gr.Slider(1, MAX_BATCH, DEFAULT_SETTINGS["batch"], step=1, label="Batch size")
                seed = gr.Number(DEFAULT_SETTINGS["seed"], precision=0, minimum=0, label="Seed")
            estimate_md = gr.Markdown(elem_id="img-estimate")
            with gr.Row():
                sample_btn = gr.Button("Sample", variant="primary")
                stop_btn = gr.Button("Stop", variant="stop")
            status_md = gr.Markdown(elem_id="img-status")
            gallery = gr.Gallery(label="The batch (click one to scrub it)", columns=8, height=220,
                                 object_fit="contain", allow_preview=False, elem_id="img-gallery")
            image_no = gr.Slider(1, MAX_BATCH, 1, step=1, label="Image of the batch")
            rev_scrub = gr.HTML(placeholder_html("Press Sample to run the sampler."), elem_id=REV_ID)
            rev_t = gr.Slider(0, 1, 1, step=1, label="Step through the run: right = pure noise (start), "
                              "left = the final sample", elem_id=REV_SLIDER)
            rev_play = gr.Button("▶ Play (noise → image)", size="sm")

        with gr.Tab("Noise & restore"):
            gr.Markdown(RESTORE_MD, latex_delimiters=LATEX)
            with gr.Row():
                t_start = gr.Slider(0, 999, DEFAULT_SETTINGS["t_start"], step=1, label="Noise level t₀")
                res_sampler = gr.Dropdown(list(SDEDIT_SAMPLERS), value="ddim", label="Sampler")
                res_steps = gr.Slider(1, 1000, DEFAULT_SETTINGS["restore_steps"], step=1, label="Steps (at most t₀ + 1)")
                res_seed = gr.Number(0, precision=0, minimum=0, label="Seed")
            with gr.Row():
                res_btn = gr.Button("Noise and restore", variant="primary")
                res_stop = gr.Button("Stop", variant="stop")
            res_status = gr.Markdown(elem_id="img-res-status")
            trio = gr.Image(label="original · noised · restored", type="pil", interactive=False, format="png")
            res_scrub = gr.HTML(placeholder_html("Press Noise and restore."), elem_id=RES_ID)
            res_t = gr.Slider(0, 1, 1, step=1, label="Step through the restoration (right = noised start)",
                              elem_id=RES_SLIDER)
            res_play = gr.Button("▶ Play (noised → restored)", size="sm")

        with gr.Tab("Pixel vs latent"):
            build_latent_tab()

    with gr.Accordion("Export", open=False):
        export = export_row(["reverse", "restore", "forward"], label="Which view")
        gif_view, fps, gif_btn, frame_btn, gif_out, frame_out = (export.view, export.fps, export.gif_btn,
                                                                 export.frame_btn, export.gif_out, export.frame_out)
        frame_label = gr.Markdown()

    # --- events ---
    # one image run at a time per server: two runs on a 2-vCPU machine would each take twice as long (or worse:
    # torch's threads contend), and the time estimates assume a free machine. Others wait in the queue.
    heavy = dict(concurrency_limit=1, concurrency_id="image_heavy")
    light = dict(concurrency_id="image_light")
    fwd_inputs = [state, example, upload, fwd_seed, invert]
    fwd_outputs = [state, converted, fwd_scrub, fwd_t, picture_md]
    est_inputs = [state, sampler, steps, batch]
    load_btn.click(load_model, [state, model_name], [state, model_md, model_name, steps, t_start, res_steps],
                   api_name="image_load_model", **heavy).then(
        forward, fwd_inputs, fwd_outputs, api_visibility="private", **light).then(
        estimate, est_inputs, estimate_md, api_visibility="private", queue=False)
    fwd_btn.click(forward, fwd_inputs, fwd_outputs, api_name="image_forward", **light)
    for trigger in (example.input, upload.change, invert.input, fwd_seed.submit):
        trigger(forward, fwd_inputs, fwd_outputs, api_visibility="private", **light)

    sample_btn.click(sample_images, [state, sampler, steps, seed, batch, eta],
                     [state, gallery, rev_scrub, rev_t, image_no, status_md], api_name="image_sample", **heavy)
    stop_btn.click(stop, state, state, api_name="image_stop", queue=False)
    res_stop.click(stop, state, state, api_visibility="private", queue=False)
    gr.on([sampler.change, steps.release, batch.release], estimate, est_inputs, estimate_md,
          api_name="image_estimate", queue=False)
    image_no.release(select_image, [state, image_no, rev_t], rev_scrub, api_name="image_select", **light)

    def pick(evt: gr.SelectData):
        return evt.index + 1
    gallery.select(pick, None, image_no, api_visibility="private", queue=False).then(
        select_image, [state, image_no, rev_t], rev_scrub, api_visibility="private", **light)

    res_btn.click(restore, [state, example, upload, invert, t_start, res_sampler, res_steps, res_seed, eta],
                  [state, trio, res_scrub, res_t, res_status], api_name="image_restore", **heavy)

    for slider, scrub_id in ((fwd_t, FWD_ID), (rev_t, REV_ID), (res_t, RES_ID)):
        slider.input(None, slider, None, js=scrub_js(scrub_id))
        slider.change(None, slider, None, js=scrub_js(scrub_id))
    fwd_play.click(None, js=play_js(FWD_ID, FWD_SLIDER, +1))
    rev_play.click(None, js=play_js(REV_ID, REV_SLIDER, -1))
    res_play.click(None, js=play_js(RES_ID, RES_SLIDER, -1))

    gif_btn.click(make_gif, [state, gif_view, image_no, fps], gif_out, api_name="image_gif", **light)

    def frame_for_view(session, view, image, f_fwd, f_rev, f_res):
        f = {"forward": f_fwd, "reverse": f_rev, "restore": f_res}.get(view, 0)
        img, label = frame_png(session, view, image if view == "reverse" else 1, f)
        return img, label
    scrub = dict(concurrency_limit=None, concurrency_id="image_scrub")   # one stored frame: never waits in "light"
    frame_btn.click(frame_for_view, [state, gif_view, image_no, fwd_t, rev_t, res_t], [frame_out, frame_label],
                    api_visibility="private", **scrub)
    # the same as an endpoint with explicit arguments (frame: 0 = the clean end), through a hidden trigger
    frame_no = gr.Number(0, precision=0, visible=False)
    frame_api = gr.Button(visible=False)
    frame_api.click(frame_png, [state, gif_view, image_no, frame_no], [frame_out, frame_label], api_name="image_frame",
                    **scrub)

    gr.on(None, on_load, [state], [state, model_md, converted, fwd_scrub, fwd_t, picture_md],
          api_visibility="private", concurrency_limit=None, show_progress="hidden").then(
        estimate, est_inputs, estimate_md, api_visibility="private", queue=False)
