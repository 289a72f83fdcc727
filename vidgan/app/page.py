"""The web app's page (Gradio): one tab per job, a panel that follows the current job (steps,
progress, the one-line error, a Stop button, the result beside its input, the figures), and a
Runs tab listing every job of the workspace with a button to resume a stopped one. Every job is
a :class:`~vidgan.app.jobs.JobQueue` job, i.e. the CLI's own command."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from vidgan.app.jobs import IMAGE_SUFFIXES, MAX_UPLOAD_BYTES, NAMED_PRESETS, Job, JobQueue
from vidgan.errors import VidganError
from vidgan.io import probe
from vidgan.io.images import check_image

#: Local fonts only: nothing is fetched from the network by the page.
FONTS = {"font": ["ui-sans-serif", "system-ui", "sans-serif"], "font_mono": ["ui-monospace", "monospace"]}


def upload_or_path(queue: JobQueue, upload: str | None, typed: str, what: str) -> str:
    """The workspace path of a field: the uploaded file copied in (and checked as the CLI checks
    its inputs: ``what`` video, image or either), else the typed path."""
    if upload:
        path = queue.workspace.upload(upload, Path(upload).name)
    elif typed:
        path = queue.workspace.inside(typed)
    else:
        return ""
    if path.is_file():
        if what == "image" or (what == "either" and path.suffix.lower() in IMAGE_SUFFIXES):
            check_image(path)
        else:
            probe(path)
    return queue.workspace.relative(path)


def panel(queue: JobQueue, job_id: str | None) -> tuple[str, str, Any, Any, str]:
    """(status HTML, error line, result file, input file, figures) of a job for the panel."""
    if not job_id or job_id not in queue.jobs:
        return "<p>No job yet.</p>", "", None, None, ""
    job = queue.jobs[job_id]
    fraction = job.fraction
    bar = (f'<progress max="1" value="{fraction:.3f}"></progress> {job.done}/{job.total}' if fraction is not None
           else "<progress></progress>" if job.status == "running" else "")
    status = (f'<p class="job-status" data-status="{job.status}"><b>{html.escape(job.id)}</b>: {job.status}'
              f'{" — " + html.escape(job.step) if job.step else ""}</p><p>{bar}</p>')
    out = queue.workspace.root / job.out if job.out else None
    result = str(out) if job.status == "done" and out is not None and out.is_file() else None
    source = next((job.options[k] for k in ("source", "driving", "input") if job.options.get(k)), None)
    shown_input = str(queue.workspace.root / source) if source else None
    return status, job.error, result, shown_input, figures(queue, job)


def figures(queue: JobQueue, job: Job) -> str:
    """The job's figures: a motion job's metrics per method, and a link to its report."""
    if job.status != "done" or job.kind not in ("transfer", "reenact") or job.out is None:
        return ""
    from vidgan.pipelines.motion_transfer import describe_metrics

    out = queue.workspace.root / job.out
    metrics = out.with_suffix(".work") / "metrics.json"
    text = describe_metrics(json.loads(metrics.read_text())) if metrics.is_file() else "no figures"
    report = out.with_suffix(".report.html")
    link = f"\n\n[report]({'/gradio_api/file=' + str(report)})" if report.is_file() else ""
    return f"```\n{text}\n```{link}"


def runs_table(queue: JobQueue) -> list[list[Any]]:
    return [[job.id, job.kind, job.status, job.step, job.error, f"{job.seconds:.0f}"]
            for job in sorted(queue.jobs.values(), key=lambda j: j.id, reverse=True)]


def _gradio():
    """gradio, imported with its analytics off (read at import: nothing leaves the machine)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio

    return gradio


def build_page(queue: JobQueue):
    """The Gradio Blocks of the app over ``queue``."""
    gr = _gradio()

    def submit(kind: str, fields: dict[str, Any]) -> tuple[str | None, str]:
        try:
            job = queue.submit(kind, fields)
        except VidganError as error:
            return None, f"error: {error}"
        return job.id, ""

    with gr.Blocks(title="vidgan") as page:
        gr.Markdown(f"# vidgan\nWorkspace: `{queue.workspace.root}` (every file a job reads or writes lies here)")
        current = gr.State(None)
        with gr.Tabs():
            with gr.Tab("Transfer"):
                with gr.Row():
                    t_source, t_source_path = gr.File(label="Source dancer (video)", elem_id="transfer-source"), \
                        gr.Textbox(label="or a path in the workspace", elem_id="transfer-source-path")
                    t_target, t_target_path = gr.File(label="Target person (video)", elem_id="transfer-target"), \
                        gr.Textbox(label="or a path in the workspace", elem_id="transfer-target-path")
                with gr.Row():
                    t_preset = gr.Dropdown(list(NAMED_PRESETS), value="cpu-small", allow_custom_value=True,
                                           label="Preset (or configs/models/... / a YAML in the workspace)",
                                           elem_id="transfer-preset")
                    t_sframes = gr.Textbox(label="Source frames (e.g. -80:)", elem_id="transfer-source-frames")
                    t_tframes = gr.Textbox(label="Target frames (e.g. 0:200)")
                    t_model = gr.Textbox(label="Trained model folder to reuse (optional)")
                t_over = gr.Textbox(label="Overrides (key=value ...)", elem_id="transfer-overrides")
                t_run = gr.Button("Run transfer", variant="primary", elem_id="transfer-run")
            with gr.Tab("Reenact"):
                with gr.Row():
                    r_driving, r_driving_path = gr.File(label="Driving face (video)"), \
                        gr.Textbox(label="or a path in the workspace")
                    r_target, r_target_path = gr.File(label="Target face (video)"), \
                        gr.Textbox(label="or a path in the workspace")
                with gr.Row():
                    r_preset = gr.Dropdown(list(NAMED_PRESETS), value="cpu-small", allow_custom_value=True,
                                           label="Preset")
                    r_head = gr.Radio(["target", "driving"], value="target", label="Head motion from")
                    r_dframes = gr.Textbox(label="Driving frames")
                    r_tframes = gr.Textbox(label="Target frames")
                    r_model = gr.Textbox(label="Trained model folder to reuse (optional)")
                r_over = gr.Textbox(label="Overrides (key=value ...)")
                r_run = gr.Button("Run reenact", variant="primary")
            editors = {}
            for kind, title in (("age", "Age"), ("frontalize", "Frontalize")):
                with gr.Tab(title):
                    with gr.Row():
                        e_input, e_input_path = gr.File(label="Photo or video"), gr.Textbox(label="or a path")
                        e_model = gr.Textbox(label=f"{'Age-cGAN' if kind == 'age' else 'TP-GAN'} model folder")
                        e_age = gr.Number(value=60, label="Target age (years)", visible=kind == "age")
                    editors[kind] = (e_input, e_input_path, e_model, e_age, gr.Button(f"Run {kind}", variant="primary"))
            with gr.Tab("Sample"):
                with gr.Row():
                    s_model = gr.Textbox(label="MoCoGAN / DVD-GAN model folder")
                    s_n, s_length = gr.Number(value=4, label="Videos"), gr.Number(value=16, label="Frames")
                    s_category = gr.Textbox(label="Category (optional)")
                    s_fix = gr.Radio(["", "content", "motion"], value="", label="Fix (MoCoGAN)")
                s_run = gr.Button("Sample", variant="primary")
            with gr.Tab("Preprocess"):
                with gr.Row():
                    p_inputs = gr.Textbox(label="Folder of videos in the workspace")
                    p_task = gr.Radio(["faces", "bodies"], value="faces", label="Task")
                    p_runner = gr.Radio(["local", "ray"], value="local", label="Runner")
                p_run = gr.Button("Preprocess", variant="primary")
            with gr.Tab("Runs"):
                runs = gr.Dataframe(headers=["job", "kind", "status", "step", "error", "seconds"],
                                    value=lambda: runs_table(queue), interactive=False)
                with gr.Row():
                    chosen = gr.Textbox(label="Job id")
                    show, resume = gr.Button("Show"), gr.Button("Resume")
        gr.Markdown("## Current job")
        status = gr.HTML(elem_id="job-status")
        error = gr.Textbox(label="Error", interactive=False, elem_id="job-error")
        stop = gr.Button("Stop", variant="stop", elem_id="job-stop")
        with gr.Row():
            shown_input = gr.Video(label="Input", interactive=False)
            result = gr.Video(label="Result", interactive=False, elem_id="job-result")
        shown_figures = gr.Markdown(elem_id="job-figures")

        outputs = [current, error]

        def transfer(source, source_path, target, target_path, preset, sframes, tframes, model, over):
            try:
                fields = {"source": upload_or_path(queue, source, source_path, "video"),
                          "target": upload_or_path(queue, target, target_path, "video"), "preset": preset,
                          "source_frames": sframes, "target_frames": tframes, "model": model, "overrides": over}
            except VidganError as problem:
                return None, f"error: {problem}"
            return submit("transfer", fields)

        def reenact(driving, driving_path, target, target_path, preset, head, dframes, tframes, model, over):
            try:
                fields = {"driving": upload_or_path(queue, driving, driving_path, "video"),
                          "target": upload_or_path(queue, target, target_path, "video"), "preset": preset,
                          "head_pose": head, "driving_frames": dframes, "target_frames": tframes, "model": model,
                          "overrides": over}
            except VidganError as problem:
                return None, f"error: {problem}"
            return submit("reenact", fields)

        t_run.click(transfer, [t_source, t_source_path, t_target, t_target_path, t_preset, t_sframes, t_tframes,
                               t_model, t_over], outputs)
        r_run.click(reenact, [r_driving, r_driving_path, r_target, r_target_path, r_preset, r_head, r_dframes,
                              r_tframes, r_model, r_over], outputs)
        for kind, (e_input, e_input_path, e_model, e_age, e_run) in editors.items():
            def edit(upload, typed, model, age, kind=kind):
                try:
                    fields = {"input": upload_or_path(queue, upload, typed, "either"), "model": model}
                except VidganError as problem:
                    return None, f"error: {problem}"
                return submit(kind, {**fields, **({"target_age": age} if kind == "age" else {})})

            e_run.click(edit, [e_input, e_input_path, e_model, e_age], outputs)
        s_run.click(lambda model, n, length, category, fix: submit(
            "sample", {"model": model, "n": n, "length": length, "category": category, "fix": fix}),
            [s_model, s_n, s_length, s_category, s_fix], outputs)
        p_run.click(lambda inputs, task, runner: submit("preprocess", {"inputs": inputs, "task": task,
                                                                        "runner": runner}),
                    [p_inputs, p_task, p_runner], outputs)
        show.click(lambda job_id: (job_id.strip() or None, ""), [chosen], outputs)
        resume.click(lambda job_id: (queue.resume(job_id.strip()).id, "") if job_id.strip() in queue.jobs
                     else (None, f"error: {job_id}: no such job"), [chosen], outputs)
        stop.click(lambda job_id: queue.stop(job_id) if job_id else None, [current], [])

        def refresh(job_id, error_line):
            status_html, job_error, result_file, input_file, text = panel(queue, job_id)
            return status_html, job_error or (error_line if not job_id else ""), result_file, input_file, text, \
                runs_table(queue)

        timer = gr.Timer(1.0)
        timer.tick(refresh, [current, error], [status, error, result, shown_input, shown_figures, runs])
    return page


def launch(queue: JobQueue, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve the page until interrupted (files served only from the workspace)."""
    gr = _gradio()

    page = build_page(queue)
    page.queue(default_concurrency_limit=4).launch(
        server_name=host, server_port=port, allowed_paths=[str(queue.workspace.root)], show_error=True,
        max_file_size=MAX_UPLOAD_BYTES, theme=gr.themes.Default(**FONTS), footer_links=[], quiet=True,
    )

